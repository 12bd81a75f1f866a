// AVX-512F. Compiled with -mavx512f (GCC, Clang) or /arch:AVX512 (MSVC); only called after
// cpu.cc has seen AVX-512F in CPUID and the OS saving ZMM and opmask state. Tails use masked
// loads, so every dimension runs at full width.
#include "kernels.h"

#if defined(_M_X64) || defined(__x86_64__)
#if defined(__GNUC__) && !defined(__clang__)
// GCC 12's own _mm512_reduce_add_ps reads an intentionally undefined register (a known false
// positive of -Wuninitialized inside avx512fintrin.h).
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

namespace facegate {
namespace {

inline __mmask16 tailMask(size_t left) { return static_cast<__mmask16>((1u << left) - 1u); }

inline float dot(const float* a, const float* b, size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 64 <= d; j += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j + 16), _mm512_loadu_ps(b + j + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j + 32), _mm512_loadu_ps(b + j + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j + 48), _mm512_loadu_ps(b + j + 48), s3);
  }
  for (; j + 16 <= d; j += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + j), _mm512_loadu_ps(b + j), s0);
  if (j < d) {
    const __mmask16 m = tailMask(d - j);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + j), _mm512_maskz_loadu_ps(m, b + j), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

// vcvtph2ps widens 16 halves to 16 floats; the scan then reads half the bytes of the fp32 one.
inline __m512 loadHalf(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

inline float dotF16(const float* q, const uint16_t* r, size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 64 <= d; j += 64) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), loadHalf(r + j), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 16), loadHalf(r + j + 16), s1);
    s2 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 32), loadHalf(r + j + 32), s2);
    s3 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 48), loadHalf(r + j + 48), s3);
  }
  for (; j + 16 <= d; j += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), loadHalf(r + j), s0);
  float tail = 0.0f;
  for (; j < d; ++j) tail += q[j] * halfToFloat(r[j]);
  return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3))) + tail;
}

void dotRowsF16(const float* q, const uint16_t* rows, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dotF16(q, rows + i * d, d);
}

void toHalf(const float* x, uint16_t* out, size_t n) {
  size_t j = 0;
  for (; j + 16 <= n; j += 16) {
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + j),
                        _mm512_cvtps_ph(_mm512_loadu_ps(x + j), _MM_FROUND_TO_NEAREST_INT));
  }
  for (; j < n; ++j) out[j] = floatToHalf(x[j]);
}

void dotRows(const float* q, const float* rows, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot(q, rows + i * d, d);
}

float sumSquares(const float* x, size_t d) { return dot(x, x, d); }

void scale(float* x, size_t d, float s) {
  const __m512 f = _mm512_set1_ps(s);
  size_t j = 0;
  for (; j + 16 <= d; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), f));
  if (j < d) {
    const __mmask16 m = tailMask(d - j);
    _mm512_mask_storeu_ps(x + j, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + j), f));
  }
}

float sum(const float* x, size_t n) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 64 <= n; j += 64) {
    s0 = _mm512_add_ps(s0, _mm512_loadu_ps(x + j));
    s1 = _mm512_add_ps(s1, _mm512_loadu_ps(x + j + 16));
    s2 = _mm512_add_ps(s2, _mm512_loadu_ps(x + j + 32));
    s3 = _mm512_add_ps(s3, _mm512_loadu_ps(x + j + 48));
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
  for (; j < n; ++j) s += x[j];
  return s;
}

}  // namespace

const Kernels kAvx512Kernels = {dotRows, sumSquares, scale, sum, dotRowsF16, toHalf};

}  // namespace facegate
#endif
