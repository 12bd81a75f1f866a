#include "exact_scan.h"

#include <faiss/utils/distances.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../parallel.h"
#include "../simd/kernels.h"

namespace facegate {
namespace {

// Why the answer is exact although our SIMD sums in another order than FAISS
// ---------------------------------------------------------------------------
// FAISS (1.7.3, Debian's generic build) scores a single query with fvec_inner_product, a
// sequential float loop. Our kernels add the same products in another order (several
// accumulators, fused multiply-add), so a score can differ from FAISS's in the last bits and
// a near-tie could swap. The standard bound for a float dot product of length d computed in
// any order (Higham, "Accuracy and Stability of Numerical Algorithms", 2nd ed., sec. 3.1) is
//     |computed - exact| <= gamma_d * sum_j |q_j x_j|,   gamma_d = d u / (1 - d u), u = 2^-24,
// and sum_j |q_j x_j| <= |q| |x| (Cauchy-Schwarz). Both FAISS's score F and ours A obey it, so
//     |A - F| <= delta = 2 gamma_d |q| maxNorm.
// Let T be the k-th best of our scores. k rows have A >= T, so F >= T - delta for each of
// them, so the k-th best F is >= T - delta. A row in FAISS's top k has F >= that, so its
// A >= F - delta >= T - 2 delta. Hence the rows with A >= T - 2 delta contain FAISS's top k;
// we keep exactly those (a shortlist, usually k or k + 1 rows), re-score them with FAISS's own
// fvec_inner_product, and return the best k of those exact scores. A running threshold during
// the scan only keeps more rows (it is never above the final T - 2 delta).
//
// The fp16 scan (the rows read in IEEE half precision, half the bytes)
// ---------------------------------------------------------------------
// Rounding x_j to the nearest half x~_j changes it by at most 2^-11 |x_j| in the normal range
// (11 significant bits, round to nearest) and by at most 2^-25 below it (half the subnormal
// spacing 2^-24). So the exact products differ by
//     |sum q_j x~_j - sum q_j x_j| <= 2^-11 sum |q_j||x_j| + 2^-25 sum |q_j|
//                                  <= 2^-11 |q| |x| + 2^-25 sqrt(d) |q|        (Cauchy-Schwarz twice)
// Our float sum of the q_j x~_j adds at most gamma_d |q| |x~| <= gamma_d |q| |x| (1 + 2^-11)
// (plus a negligible gamma_d 2^-25 sqrt(d) |q|), and FAISS's own score F is within gamma_d |q| |x|
// of the exact sum. With |x| <= maxNorm = M:
//     |A - F| <= delta = |q| (2^-11 M + 2^-25 sqrt(d) + gamma_d M (2 + 2^-11))
// and the same argument as above keeps every row with A >= T - 2 delta: FAISS's top k are among
// them, and re-scoring them with fvec_inner_product returns FAISS's exact scores. For unit
// vectors at d = 512, 2 delta is about 1.1e-3: a shortlist of k or k + 1 rows on random data.
// Values of 65504 or more have no half: an index holding one scans in fp32 (IndexCore checks).
float shortlistMargin(const float* q, size_t d, float maxNorm, bool half) {
  const double u = std::ldexp(1.0, -24);
  const double dd = static_cast<double>(d);
  const double gamma = dd * u / (1.0 - dd * u);
  double qq = 0.0;
  for (size_t j = 0; j < d; ++j) qq += static_cast<double>(q[j]) * q[j];
  const double qn = std::sqrt(qq);
  const double m = static_cast<double>(maxNorm);
  const double delta = half ? qn * (std::ldexp(1.0, -11) * m + std::ldexp(1.0, -25) * std::sqrt(dd) +
                                    gamma * m * (2.0 + std::ldexp(1.0, -11)))
                            : 2.0 * gamma * qn * m;
  // 1.01: the norms themselves are float roundings of the true norms.
  return static_cast<float>(2.0 * delta * 1.01);
}

struct Candidate {
  float score;
  size_t row;
};

inline bool better(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

// Every row whose approximate score is within `margin` of the k-th best seen so far. Pruned
// when it grows, so its size stays O(k) and each offer is one compare for most rows.
class Shortlist {
 public:
  Shortlist(size_t k, float margin) : k_(k), margin_(margin), cap_(2 * k + 64) { items_.reserve(cap_); }

  void offer(const float* scores, size_t count, size_t firstRow) {
    for (size_t i = 0; i < count; ++i) {
      if (scores[i] < threshold_) continue;
      items_.push_back({scores[i], firstRow + i});
      if (items_.size() >= cap_) prune();
    }
  }

  void append(const Shortlist& other) { items_.insert(items_.end(), other.items_.begin(), other.items_.end()); }

  // Drops everything below (k-th best - margin); keeps growth amortised when many rows tie.
  void prune() {
    if (items_.size() > k_) {
      std::nth_element(items_.begin(), items_.begin() + (k_ - 1), items_.end(), better);
      threshold_ = std::max(threshold_, items_[k_ - 1].score - margin_);
      items_.erase(
          std::remove_if(items_.begin(), items_.end(), [&](const Candidate& c) { return c.score < threshold_; }),
          items_.end());
    }
    cap_ = std::max(cap_, 2 * items_.size());
  }

  std::vector<Candidate>& items() { return items_; }

 private:
  size_t k_;
  float margin_;
  size_t cap_;
  float threshold_ = -std::numeric_limits<float>::infinity();
  std::vector<Candidate> items_;
};

// Rows per task: enough work to be worth a thread hand-off (about 64k values), and at most
// four tasks per thread so an unevenly loaded core does not hold the others up.
size_t rowsPerTask(size_t n, size_t d) {
  const size_t minRows = std::max<size_t>(1, 65536 / d);
  const size_t target = (n + 4 * parallelism() - 1) / (4 * parallelism());
  return std::max(minRows, target);
}

// Rows per block: a block of rows is scored against every query of the batch while it is in
// L2 (256 KiB on this machine kind), so a batch reads memory once, not once per query.
size_t rowsPerBlock(size_t d) { return std::max<size_t>(1, 65536 / d); }

}  // namespace

void exactTopK(const ScanTarget& t, const float* queries, size_t nq, size_t k, float* scores, int64_t* ids) {
  const Kernels& kern = activeKernels();
  std::vector<float> margins(nq);
  for (size_t q = 0; q < nq; ++q) margins[q] = shortlistMargin(queries + q * t.d, t.d, t.maxNorm, t.half != nullptr);

  const size_t taskRows = rowsPerTask(t.n, t.d);
  const size_t tasks = t.n == 0 ? 0 : (t.n + taskRows - 1) / taskRows;
  std::vector<std::vector<Shortlist>> lists(tasks);
  parallelFor(tasks, [&](size_t task) {
    std::vector<Shortlist>& mine = lists[task];
    mine.reserve(nq);
    for (size_t q = 0; q < nq; ++q) mine.emplace_back(k, margins[q]);
    const size_t begin = task * taskRows;
    const size_t end = std::min(t.n, begin + taskRows);
    const size_t blockRows = rowsPerBlock(t.d);
    std::vector<float> blockScores(blockRows);
    for (size_t b = begin; b < end; b += blockRows) {
      const size_t rows = std::min(blockRows, end - b);
      for (size_t q = 0; q < nq; ++q) {
        if (t.half)
          kern.dotRowsF16(queries + q * t.d, t.half + b * t.d, rows, t.d, blockScores.data());
        else
          kern.dotRows(queries + q * t.d, t.vectors + b * t.d, rows, t.d, blockScores.data());
        mine[q].offer(blockScores.data(), rows, b);
      }
    }
  });

  for (size_t q = 0; q < nq; ++q) {
    Shortlist merged(k, margins[q]);
    for (auto& task : lists) merged.append(task[q]);
    merged.prune();
    std::vector<Candidate>& c = merged.items();
    const float* query = queries + q * t.d;
    for (Candidate& cand : c) cand.score = faiss::fvec_inner_product(query, t.vectors + cand.row * t.d, t.d);
    const size_t found = std::min(k, c.size());
    std::partial_sort(c.begin(), c.begin() + found, c.end(), better);
    for (size_t i = 0; i < k; ++i) {
      scores[q * k + i] = i < found ? c[i].score : -std::numeric_limits<float>::infinity();
      ids[q * k + i] = i < found ? t.ids[c[i].row] : -1;
    }
  }
}

}  // namespace facegate
