// AVX2 + FMA. Compiled with -mavx2 -mfma (GCC, Clang) or /arch:AVX2 (MSVC); only called after
// cpu.cc has seen both in CPUID and the OS saving YMM state.
#include "kernels.h"

#if defined(_M_X64) || defined(__x86_64__)
#include <immintrin.h>

namespace facegate {
namespace {

inline float hsum(__m256 v) {
  __m128 lo = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  __m128 shuf = _mm_movehdup_ps(lo);
  __m128 sums = _mm_add_ps(lo, shuf);
  shuf = _mm_movehl_ps(shuf, sums);
  return _mm_cvtss_f32(_mm_add_ss(sums, shuf));
}

inline float dot(const float* a, const float* b, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 8), _mm256_loadu_ps(b + j + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 16), _mm256_loadu_ps(b + j + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j + 24), _mm256_loadu_ps(b + j + 24), s3);
  }
  for (; j + 8 <= d; j += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), s0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; j < d; ++j) s += a[j] * b[j];
  return s;
}

// F16C widens 8 halves to 8 floats per instruction; the FMAs then run as in the fp32 scan.
inline __m256 loadHalf(const uint16_t* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}

inline float dotF16(const float* q, const uint16_t* r, size_t d) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), loadHalf(r + j), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 8), loadHalf(r + j + 8), s1);
    s2 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 16), loadHalf(r + j + 16), s2);
    s3 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j + 24), loadHalf(r + j + 24), s3);
  }
  for (; j + 8 <= d; j += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), loadHalf(r + j), s0);
  float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; j < d; ++j) s += q[j] * halfToFloat(r[j]);
  return s;
}

void dotRowsF16(const float* q, const uint16_t* rows, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dotF16(q, rows + i * d, d);
}

void toHalf(const float* x, uint16_t* out, size_t n) {
  size_t j = 0;
  for (; j + 8 <= n; j += 8) {
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + j),
                     _mm256_cvtps_ph(_mm256_loadu_ps(x + j), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; j < n; ++j) out[j] = floatToHalf(x[j]);
}

void dotRows(const float* q, const float* rows, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot(q, rows + i * d, d);
}

float sumSquares(const float* x, size_t d) { return dot(x, x, d); }

void scale(float* x, size_t d, float s) {
  const __m256 f = _mm256_set1_ps(s);
  size_t j = 0;
  for (; j + 8 <= d; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), f));
  for (; j < d; ++j) x[j] *= s;
}

float sum(const float* x, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= n; j += 32) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(x + j));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(x + j + 8));
    s2 = _mm256_add_ps(s2, _mm256_loadu_ps(x + j + 16));
    s3 = _mm256_add_ps(s3, _mm256_loadu_ps(x + j + 24));
  }
  float s = hsum(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; j < n; ++j) s += x[j];
  return s;
}

}  // namespace

const Kernels kAvx2Kernels = {dotRows, sumSquares, scale, sum, dotRowsF16, toHalf};

}  // namespace facegate
#endif
