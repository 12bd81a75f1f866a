#include "index_io.h"

#include <faiss/IndexFlat.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <string>
#include <utility>

namespace facegate {
namespace {

// Layout, all little-endian:
//   0 magic "FGIX" | 4 u32 format version | 8 u32 dim | 12 u32 reserved (0)
//  16 u64 vector count | 24 u64 payload bytes | 32 u32 CRC-32 of the payload | 36 u32 reserved
//  40 payload: faiss::write_index of an IndexIDMap2 over an IndexFlatIP
constexpr std::array<uint8_t, 4> kMagic = {'F', 'G', 'I', 'X'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderSize = 40;

void putLe(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t getLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// FAISS's write_index output appended to what the vector already holds (the header's space),
// without VectorIOWriter's zero-fill before each copy; reserved up front, so it never reallocates.
struct AppendWriter : faiss::IOWriter {
  std::vector<uint8_t> data;
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    const auto* p = static_cast<const uint8_t*>(ptr);
    data.insert(data.end(), p, p + size * nitems);
    return nitems;
  }
};

// Slicing-by-8 (Intel's, as zlib's portable path): eight bytes per step through eight tables,
// several times the speed of a table per byte, in portable C++ (no intrinsics, byte order free).
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

const CrcTables& crcTables() {
  static const CrcTables tables = [] {
    CrcTables t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int b = 0; b < 8; ++b) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;  // IEEE 802.3 polynomial
      t[0][i] = c;
    }
    for (size_t k = 1; k < t.size(); ++k) {
      for (uint32_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xFF];
    }
    return t;
  }();
  return tables;
}

uint32_t load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 | static_cast<uint32_t>(p[2]) << 16 |
         static_cast<uint32_t>(p[3]) << 24;
}

[[noreturn]] void refuse(const std::string& what) {
  throw std::invalid_argument("not a valid serialized FlatIndex: " + what);
}

}  // namespace

uint32_t crc32(const uint8_t* p, size_t n) {
  const CrcTables& t = crcTables();
  uint32_t c = 0xFFFFFFFFu;
  for (; n >= 8; p += 8, n -= 8) {
    const uint32_t lo = c ^ load32(p);
    const uint32_t hi = load32(p + 4);
    c = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^ t[3][hi & 0xFF] ^
        t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) c = t[0][(c ^ *p) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::vector<uint8_t> writeFlatIndexUnsealed(const faiss::IndexIDMap2& index) {
  AppendWriter writer;
  // FAISS writes the vectors, the ids and a few hundred bytes of headers; any excess of this
  // estimate only grows the vector (correct, one reallocation slower).
  const size_t n = static_cast<size_t>(index.ntotal);
  writer.data.reserve(kHeaderSize + n * static_cast<size_t>(index.d) * sizeof(float) + n * sizeof(int64_t) + 4096);
  writer.data.resize(kHeaderSize);
  faiss::write_index(&index, &writer);
  std::vector<uint8_t> out = std::move(writer.data);
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  putLe(out.data() + 4, kVersion, 4);
  putLe(out.data() + 8, static_cast<uint64_t>(index.d), 4);
  putLe(out.data() + 12, 0, 4);
  putLe(out.data() + 16, static_cast<uint64_t>(index.ntotal), 8);
  putLe(out.data() + 24, out.size() - kHeaderSize, 8);
  putLe(out.data() + 32, 0, 8);  // the CRC-32 (sealFlatIndex) and the reserved word
  return out;
}

void sealFlatIndex(std::vector<uint8_t>& bytes) {
  if (bytes.size() < kHeaderSize) throw std::logic_error("sealFlatIndex: expected writeFlatIndexUnsealed's bytes");
  putLe(bytes.data() + 32, crc32(bytes.data() + kHeaderSize, bytes.size() - kHeaderSize), 4);
}

std::vector<uint8_t> writeFlatIndex(const faiss::IndexIDMap2& index) {
  std::vector<uint8_t> out = writeFlatIndexUnsealed(index);
  sealFlatIndex(out);
  return out;
}

std::unique_ptr<faiss::IndexIDMap2> readFlatIndex(const uint8_t* data, size_t size) {
  if (size < kHeaderSize)
    refuse("expected at least " + std::to_string(kHeaderSize) + " bytes but received " + std::to_string(size));
  if (std::memcmp(data, kMagic.data(), kMagic.size()) != 0) refuse("expected the magic bytes FGIX at the start");
  const uint64_t version = getLe(data + 4, 4);
  if (version != kVersion)
    refuse("expected format version " + std::to_string(kVersion) + " but found " + std::to_string(version));
  const uint64_t dim = getLe(data + 8, 4);
  const uint64_t count = getLe(data + 16, 8);
  const uint64_t payload = getLe(data + 24, 8);
  if (payload != size - kHeaderSize) {
    refuse("expected " + std::to_string(payload) + " payload bytes (truncated or padded?) but received " +
           std::to_string(size - kHeaderSize));
  }
  const uint32_t crc = crc32(data + kHeaderSize, payload);
  if (crc != getLe(data + 32, 4)) refuse("payload checksum mismatch (corrupted)");

  faiss::VectorIOReader reader;
  reader.data.assign(data + kHeaderSize, data + size);
  std::unique_ptr<faiss::Index> raw(faiss::read_index(&reader));
  auto* idmap = dynamic_cast<faiss::IndexIDMap2*>(raw.get());
  auto* flat = idmap ? dynamic_cast<faiss::IndexFlatIP*>(idmap->index) : nullptr;
  if (!flat) refuse("expected an IndexIDMap2 over an IndexFlatIP");
  if (static_cast<uint64_t>(idmap->d) != dim || static_cast<uint64_t>(idmap->ntotal) != count ||
      idmap->id_map.size() != static_cast<size_t>(idmap->ntotal) || flat->ntotal != idmap->ntotal) {
    refuse("header says dim " + std::to_string(dim) + " and " + std::to_string(count) +
           " vectors but the index has dim " + std::to_string(idmap->d) + " and " + std::to_string(idmap->ntotal));
  }
  if (idmap->rev_map.size() != idmap->id_map.size()) refuse("its id map holds duplicate ids");
  raw.release();
  return std::unique_ptr<faiss::IndexIDMap2>(idmap);
}

}  // namespace facegate
