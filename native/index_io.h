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

std::vector<uint8_t> writeFlatIndex(const faiss::IndexIDMap2& index);

// Throws std::invalid_argument saying what was expected and what was found.
std::unique_ptr<faiss::IndexIDMap2> readFlatIndex(const uint8_t* data, size_t size);

}  // namespace facegate
