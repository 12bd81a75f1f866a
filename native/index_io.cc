#include "index_io.h"

#include <faiss/IndexFlat.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include <array>
#include <cstring>
#include <stdexcept>
#include <string>

namespace facegate {
namespace {

// Layout, all little-endian:
//   0 magic "FGIX" | 4 u32 format version | 8 u32 dim | 12 u32 reserved (0)
//  16 u64 vector count | 24 u64 payload bytes | 32 u32 CRC-32 of the payload | 36 u32 reserved
//  40 payload: faiss::write_index of an IndexIDMap2 over an IndexFlatIP
constexpr std::array<uint8_t, 4> kMagic = {'F', 'G', 'I', 'X'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderSize = 40;

uint32_t crc32(const uint8_t* p, size_t n) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int b = 0; b < 8; ++b) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;  // IEEE 802.3 polynomial
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) c = table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

void putLe(uint8_t* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t getLe(const uint8_t* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

[[noreturn]] void refuse(const std::string& what) {
  throw std::invalid_argument("not a valid serialized FlatIndex: " + what);
}

}  // namespace

std::vector<uint8_t> writeFlatIndex(const faiss::IndexIDMap2& index) {
  faiss::VectorIOWriter writer;
  faiss::write_index(&index, &writer);
  std::vector<uint8_t> out(kHeaderSize + writer.data.size());
  std::memcpy(out.data(), kMagic.data(), kMagic.size());
  putLe(out.data() + 4, kVersion, 4);
  putLe(out.data() + 8, static_cast<uint64_t>(index.d), 4);
  putLe(out.data() + 16, static_cast<uint64_t>(index.ntotal), 8);
  putLe(out.data() + 24, writer.data.size(), 8);
  putLe(out.data() + 32, crc32(writer.data.data(), writer.data.size()), 4);
  std::memcpy(out.data() + kHeaderSize, writer.data.data(), writer.data.size());
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
