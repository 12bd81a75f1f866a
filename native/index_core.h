// The FlatIndex itself, free of JavaScript: a FAISS IndexIDMap2(IndexFlatIP) that FAISS owns
// (storage, ids, serialisation), searched by our exact parallel SIMD scan. Safe to use from
// several threads: searches share a lock, add/remove take it alone.
#pragma once

#include <faiss/IndexIDMap.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <vector>

namespace facegate {

// exact-fp32 scans the fp32 vectors FAISS stores; fp16-rerank scans a half-precision copy (half
// the bytes) and re-ranks a guaranteed shortlist in fp32. Both return FAISS's exact top k.
enum class SearchMode { ExactFp32, Fp16Rerank };

class IndexCore {
 public:
  explicit IndexCore(size_t dim);
  explicit IndexCore(std::unique_ptr<faiss::IndexIDMap2> index);

  size_t dim() const;
  size_t size() const;

  // Adds n vectors with their ids. All or nothing: throws std::invalid_argument when an id is
  // already in the index or repeats within the batch.
  void add(const float* vectors, size_t n, const int64_t* ids);
  // Removes the given ids (unknown ids are ignored); returns how many were removed.
  size_t remove(const int64_t* ids, size_t n);

  // The exact top-k (see exact_scan.h), using every core.
  void search(const float* queries, size_t nq, size_t k, float* scores, int64_t* ids) const;
  // FAISS's own IndexIDMap2::search, the reference the tests and the benchmark compare against.
  void faissSearch(const float* queries, size_t nq, size_t k, float* scores, int64_t* ids) const;

  // The serialized index (index_io.h). The lock is shared, and held only while FAISS copies the
  // index out, not for the checksum: searches run meanwhile, add and remove wait for the copy.
  std::vector<uint8_t> serialize() const;
  // The same, or std::runtime_error when an add or remove has changed the index since version()
  // returned `version`: serializeAsync's bytes are the index as it was when it was called.
  std::vector<uint8_t> serializeAt(uint64_t version) const;
  // Counts the adds and removes that changed the index.
  uint64_t version() const;
  std::vector<int64_t> ids() const;

  void setMode(SearchMode mode);
  SearchMode mode() const;
  /** False when a value has no half (|x| >= 65504): fp16-rerank then scans fp32. */
  bool fp16Usable() const;
  /** Bytes of the fp16 copy (0 when it is not kept). */
  size_t fp16Bytes() const;

 private:
  void appendHalf(const float* vectors, size_t n);

  std::vector<uint8_t> serializeChecked(const uint64_t* version) const;

  mutable std::shared_mutex mu_;
  std::unique_ptr<faiss::IndexIDMap2> index_;
  uint64_t version_ = 0;
  float maxNorm_ = 0.0f;  // never lowered on remove: it only has to be an upper bound
  // The fp16 copy, row for row in FAISS's storage order (kept in step by add and remove; rebuilt
  // from the fp32 rows on deserialize, so it is never serialized).
  std::vector<uint16_t> half_;
  bool fp16Usable_ = true;
  SearchMode mode_ = SearchMode::Fp16Rerank;
};

}  // namespace facegate
