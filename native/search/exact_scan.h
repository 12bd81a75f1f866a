// Exact top-k inner-product search over a flat array of vectors, on every core and the widest
// SIMD the CPU has, returning exactly what FAISS's own IndexFlatIP search returns.
#pragma once

#include <cstddef>
#include <cstdint>

namespace facegate {

struct ScanTarget {
  const float* vectors;  // n rows of d floats, row-major (IndexFlat's storage)
  // The same rows in IEEE half precision, or null. When set, the scan reads these (half the
  // bytes) and the shortlist margin covers the rounding to half (exact_scan.cc says how).
  const uint16_t* half;
  const int64_t* ids;  // the id of each row (IndexIDMap2's id_map)
  size_t n;
  size_t d;
  float maxNorm;  // an upper bound on the L2 norm of every row
};

// For each of the nq queries, writes the k best (score, id) pairs, best first, into
// scores[q * k ..] and ids[q * k ..]. Where fewer than k rows exist the rest is id -1 with score
// -infinity. Scores are FAISS's own fvec_inner_product values; equal scores order by row.
void exactTopK(const ScanTarget& target, const float* queries, size_t nq, size_t k, float* scores, int64_t* ids);

}  // namespace facegate
