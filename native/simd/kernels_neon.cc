// NEON (Advanced SIMD), mandatory on AArch64, so this file needs no extra compiler flags.
#include "kernels.h"

#if defined(_M_ARM64) || defined(__aarch64__)
#include <arm_neon.h>

namespace facegate {
namespace {

inline float dot(const float* a, const float* b, size_t d) {
  float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0), s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
  size_t j = 0;
  for (; j + 16 <= d; j += 16) {
    s0 = vfmaq_f32(s0, vld1q_f32(a + j), vld1q_f32(b + j));
    s1 = vfmaq_f32(s1, vld1q_f32(a + j + 4), vld1q_f32(b + j + 4));
    s2 = vfmaq_f32(s2, vld1q_f32(a + j + 8), vld1q_f32(b + j + 8));
    s3 = vfmaq_f32(s3, vld1q_f32(a + j + 12), vld1q_f32(b + j + 12));
  }
  for (; j + 4 <= d; j += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + j), vld1q_f32(b + j));
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for (; j < d; ++j) s += a[j] * b[j];
  return s;
}

// AArch64 converts halves in hardware (fcvtl): the fp16 scan reads half the bytes.
inline float32x4_t loadHalf(const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }

inline float dotF16(const float* q, const uint16_t* r, size_t d) {
  float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0), s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
  size_t j = 0;
  for (; j + 16 <= d; j += 16) {
    s0 = vfmaq_f32(s0, vld1q_f32(q + j), loadHalf(r + j));
    s1 = vfmaq_f32(s1, vld1q_f32(q + j + 4), loadHalf(r + j + 4));
    s2 = vfmaq_f32(s2, vld1q_f32(q + j + 8), loadHalf(r + j + 8));
    s3 = vfmaq_f32(s3, vld1q_f32(q + j + 12), loadHalf(r + j + 12));
  }
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for (; j < d; ++j) s += q[j] * halfToFloat(r[j]);
  return s;
}

void dotRowsF16(const float* q, const uint16_t* rows, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dotF16(q, rows + i * d, d);
}

void toHalf(const float* x, uint16_t* out, size_t n) {
  size_t j = 0;
  for (; j + 4 <= n; j += 4) vst1_u16(out + j, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(x + j))));
  for (; j < n; ++j) out[j] = floatToHalf(x[j]);
}

void dotRows(const float* q, const float* rows, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot(q, rows + i * d, d);
}

float sumSquares(const float* x, size_t d) { return dot(x, x, d); }

void scale(float* x, size_t d, float s) {
  size_t j = 0;
  for (; j + 4 <= d; j += 4) vst1q_f32(x + j, vmulq_n_f32(vld1q_f32(x + j), s));
  for (; j < d; ++j) x[j] *= s;
}

float sum(const float* x, size_t n) {
  float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0), s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
  size_t j = 0;
  for (; j + 16 <= n; j += 16) {
    s0 = vaddq_f32(s0, vld1q_f32(x + j));
    s1 = vaddq_f32(s1, vld1q_f32(x + j + 4));
    s2 = vaddq_f32(s2, vld1q_f32(x + j + 8));
    s3 = vaddq_f32(s3, vld1q_f32(x + j + 12));
  }
  float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
  for (; j < n; ++j) s += x[j];
  return s;
}

}  // namespace

const Kernels kNeonKernels = {dotRows, sumSquares, scale, sum, dotRowsF16, toHalf};

}  // namespace facegate
#endif
