// The byte format of a serialized FlatIndex: a small checked header around FAISS's own
// write_index output, so that a truncated, corrupted or foreign buffer is refused with a clear
// message before FAISS parses it.
#pragma once

#include <faiss/IndexIDMap.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

namespace facegate {

// The whole serialized index, header and checksum included.
std::vector<uint8_t> writeFlatIndex(const faiss::IndexIDMap2& index);

// writeFlatIndex in two steps, so that a caller holding the index's lock can release it before the
// checksum: writeFlatIndexUnsealed copies the index out (header filled but for the CRC-32), and
// sealFlatIndex then computes the CRC-32 over the payload and stores it. The bytes are one
// vector, the header reserved in front of FAISS's output: the payload is copied once.
std::vector<uint8_t> writeFlatIndexUnsealed(const faiss::IndexIDMap2& index);
void sealFlatIndex(std::vector<uint8_t>& bytes);

// The CRC-32 (IEEE 802.3, as zlib's crc32) the header stores for the payload.
uint32_t crc32(const uint8_t* p, size_t n);

// Throws std::invalid_argument saying what was expected and what was found.
std::unique_ptr<faiss::IndexIDMap2> readFlatIndex(const uint8_t* data, size_t size);

}  // namespace facegate
