#include "index_core.h"

#include <faiss/IndexFlat.h>
#include <faiss/impl/IDSelector.h>

#include <algorithm>
#include <cmath>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "index_io.h"
#include "search/exact_scan.h"
#include "simd/kernels.h"

namespace facegate {
namespace {

// FAISS 1.7 spells its id type faiss::Index::idx_t, later versions faiss::idx_t; ntotal has it in both.
using FaissIdx = decltype(faiss::Index::ntotal);
static_assert(sizeof(FaissIdx) == sizeof(int64_t), "FAISS ids are 64-bit");

const faiss::IndexFlat& flatOf(const faiss::IndexIDMap2& index) {
  return *static_cast<const faiss::IndexFlat*>(index.index);
}

float maxRowNorm(const float* x, size_t n, size_t d) {
  const Kernels& kern = activeKernels();
  float best = 0.0f;
  for (size_t i = 0; i < n; ++i) best = std::max(best, std::sqrt(kern.sumSquares(x + i * d, d)));
  return best;
}

// NaN or infinity in a vector would poison every score it touches; refuse it with its place.
void requireFinite(const float* x, size_t n, size_t d, const char* what) {
  for (size_t i = 0; i < n * d; ++i) {
    if (!std::isfinite(x[i])) {
      throw std::invalid_argument(std::string("expected finite numbers in ") + what + " but vector " +
                                  std::to_string(i / d) + ", component " + std::to_string(i % d) + " is " +
                                  (std::isnan(x[i]) ? "NaN" : "infinite"));
    }
  }
}

}  // namespace

IndexCore::IndexCore(size_t dim) {
  auto flat = std::make_unique<faiss::IndexFlatIP>(static_cast<FaissIdx>(dim));
  index_ = std::make_unique<faiss::IndexIDMap2>(flat.get());
  flat.release();
  index_->own_fields = true;
}

IndexCore::IndexCore(std::unique_ptr<faiss::IndexIDMap2> index) : index_(std::move(index)) {
  const auto& flat = flatOf(*index_);
  maxNorm_ = maxRowNorm(flat.get_xb(), static_cast<size_t>(flat.ntotal), dim());
  appendHalf(flat.get_xb(), static_cast<size_t>(flat.ntotal));
}

// Largest finite half is 65504; anything from there rounds to infinity and the error bound of
// the fp16 scan no longer holds, so such an index keeps no copy and scans fp32.
constexpr float kHalfLimit = 65504.0f;

void IndexCore::appendHalf(const float* vectors, size_t n) {
  if (!fp16Usable_) return;
  const size_t count = n * dim();
  for (size_t i = 0; i < count; ++i) {
    if (!(std::fabs(vectors[i]) < kHalfLimit)) {
      fp16Usable_ = false;
      std::vector<uint16_t>().swap(half_);
      return;
    }
  }
  const size_t at = half_.size();
  half_.resize(at + count);
  activeKernels().toHalf(vectors, half_.data() + at, count);
}

size_t IndexCore::dim() const { return static_cast<size_t>(index_->d); }

size_t IndexCore::size() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return static_cast<size_t>(index_->ntotal);
}

void IndexCore::add(const float* vectors, size_t n, const int64_t* ids) {
  if (n == 0) return;
  requireFinite(vectors, n, dim(), "vectors");
  const float norm = maxRowNorm(vectors, n, dim());
  std::unique_lock<std::shared_mutex> lock(mu_);
  std::unordered_set<int64_t> batch;
  batch.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (ids[i] < 0) {
      // FAISS answers -1 for "no result"; a stored negative id could be mistaken for it.
      throw std::invalid_argument("expected ids >= 0 but id " + std::to_string(ids[i]) + " is negative");
    }
    if (index_->rev_map.count(ids[i]) != 0) {
      throw std::invalid_argument("expected new ids but id " + std::to_string(ids[i]) + " is already in the index");
    }
    if (!batch.insert(ids[i]).second) {
      throw std::invalid_argument("expected distinct ids but id " + std::to_string(ids[i]) +
                                  " appears twice in the batch");
    }
  }
  ++version_;  // before FAISS: an add that fails half way has changed the index too
  index_->add_with_ids(static_cast<FaissIdx>(n), vectors, ids);
  maxNorm_ = std::max(maxNorm_, norm);
  appendHalf(vectors, n);
}

size_t IndexCore::remove(const int64_t* ids, size_t n) {
  if (n == 0) return 0;
  const faiss::IDSelectorBatch selector(static_cast<FaissIdx>(n), ids);
  std::unique_lock<std::shared_mutex> lock(mu_);
  // FAISS compacts its rows in order (IndexFlatCodes::remove_ids); the fp16 copy does the same.
  std::vector<bool> gone(static_cast<size_t>(index_->ntotal), false);
  for (size_t i = 0; i < n; ++i) {
    const auto it = index_->rev_map.find(ids[i]);
    if (it != index_->rev_map.end()) gone[static_cast<size_t>(it->second)] = true;
  }
  const size_t removed = index_->remove_ids(selector);
  if (removed > 0) ++version_;
  if (fp16Usable_ && removed > 0) {
    const size_t d = dim();
    size_t kept = 0;
    for (size_t row = 0; row < gone.size(); ++row) {
      if (gone[row]) continue;
      if (kept != row) std::copy_n(half_.begin() + row * d, d, half_.begin() + kept * d);
      ++kept;
    }
    half_.resize(kept * d);
  }
  return removed;
}

void IndexCore::search(const float* queries, size_t nq, size_t k, float* scores, int64_t* ids) const {
  requireFinite(queries, nq, dim(), "queries");
  std::shared_lock<std::shared_mutex> lock(mu_);
  const auto& flat = flatOf(*index_);
  const bool half = mode_ == SearchMode::Fp16Rerank && fp16Usable_;
  const ScanTarget target{
      flat.get_xb(), half ? half_.data() : nullptr, index_->id_map.data(), static_cast<size_t>(flat.ntotal), dim(),
      maxNorm_};
  exactTopK(target, queries, nq, k, scores, ids);
}

void IndexCore::faissSearch(const float* queries, size_t nq, size_t k, float* scores, int64_t* ids) const {
  requireFinite(queries, nq, dim(), "queries");
  std::shared_lock<std::shared_mutex> lock(mu_);
  index_->search(static_cast<FaissIdx>(nq), queries, static_cast<FaissIdx>(k), scores,
                 reinterpret_cast<FaissIdx*>(ids));
}

std::vector<uint8_t> IndexCore::serialize() const { return serializeChecked(nullptr); }

std::vector<uint8_t> IndexCore::serializeAt(uint64_t version) const { return serializeChecked(&version); }

std::vector<uint8_t> IndexCore::serializeChecked(const uint64_t* version) const {
  std::vector<uint8_t> bytes;
  {
    std::shared_lock<std::shared_mutex> lock(mu_);
    if (version && *version != version_) {
      throw std::runtime_error(
          "the index changed (an add or remove) after serializeAsync() was called and before its copy began; call "
          "it again");
    }
    bytes = writeFlatIndexUnsealed(*index_);
  }
  sealFlatIndex(bytes);  // our own bytes now: no lock needed for the checksum
  return bytes;
}

uint64_t IndexCore::version() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return version_;
}

void IndexCore::setMode(SearchMode mode) {
  std::unique_lock<std::shared_mutex> lock(mu_);
  mode_ = mode;
}

SearchMode IndexCore::mode() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return mode_;
}

bool IndexCore::fp16Usable() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return fp16Usable_;
}

size_t IndexCore::fp16Bytes() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return half_.size() * sizeof(uint16_t);
}

std::vector<int64_t> IndexCore::ids() const {
  std::shared_lock<std::shared_mutex> lock(mu_);
  return std::vector<int64_t>(index_->id_map.begin(), index_->id_map.end());
}

}  // namespace facegate
