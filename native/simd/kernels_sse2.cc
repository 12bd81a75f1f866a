// SSE2: the x86-64 baseline, so this file needs no extra compiler flags.
#include "kernels.h"

#if defined(_M_X64) || defined(__x86_64__)
#include <emmintrin.h>

namespace facegate {
namespace {

inline float hsum(__m128 v) {
  __m128 shuf = _mm_shuffle_ps(v, v, _MM_SHUFFLE(2, 3, 0, 1));
  __m128 sums = _mm_add_ps(v, shuf);
  shuf = _mm_movehl_ps(shuf, sums);
  return _mm_cvtss_f32(_mm_add_ss(sums, shuf));
}

inline float dot(const float* a, const float* b, size_t d) {
  __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps(), s2 = _mm_setzero_ps(), s3 = _mm_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= d; j += 16) {
    s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + j), _mm_loadu_ps(b + j)));
    s1 = _mm_add_ps(s1, _mm_mul_ps(_mm_loadu_ps(a + j + 4), _mm_loadu_ps(b + j + 4)));
    s2 = _mm_add_ps(s2, _mm_mul_ps(_mm_loadu_ps(a + j + 8), _mm_loadu_ps(b + j + 8)));
    s3 = _mm_add_ps(s3, _mm_mul_ps(_mm_loadu_ps(a + j + 12), _mm_loadu_ps(b + j + 12)));
  }
  for (; j + 4 <= d; j += 4) s0 = _mm_add_ps(s0, _mm_mul_ps(_mm_loadu_ps(a + j), _mm_loadu_ps(b + j)));
  float s = hsum(_mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3)));
  for (; j < d; ++j) s += a[j] * b[j];
  return s;
}

void dotRows(const float* q, const float* rows, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot(q, rows + i * d, d);
}

float sumSquares(const float* x, size_t d) { return dot(x, x, d); }

void scale(float* x, size_t d, float s) {
  const __m128 f = _mm_set1_ps(s);
  size_t j = 0;
  for (; j + 4 <= d; j += 4) _mm_storeu_ps(x + j, _mm_mul_ps(_mm_loadu_ps(x + j), f));
  for (; j < d; ++j) x[j] *= s;
}

float sum(const float* x, size_t n) {
  __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps(), s2 = _mm_setzero_ps(), s3 = _mm_setzero_ps();
  size_t j = 0;
  for (; j + 16 <= n; j += 16) {
    s0 = _mm_add_ps(s0, _mm_loadu_ps(x + j));
    s1 = _mm_add_ps(s1, _mm_loadu_ps(x + j + 4));
    s2 = _mm_add_ps(s2, _mm_loadu_ps(x + j + 8));
    s3 = _mm_add_ps(s3, _mm_loadu_ps(x + j + 12));
  }
  float s = hsum(_mm_add_ps(_mm_add_ps(s0, s1), _mm_add_ps(s2, s3)));
  for (; j < n; ++j) s += x[j];
  return s;
}

}  // namespace

// SSE2 has no half-float conversion (that is F16C): the fp16 scan uses the portable one here.
const Kernels kSse2Kernels = {dotRows, sumSquares, scale, sum, dotRowsF16Scalar, toHalfScalar};

}  // namespace facegate
#endif
