// The portable reference: plain loops the compiler may not reorder (no fast-math), used where
// no SIMD level is available and as the baseline the SIMD kernels are tested against.
#include <cstring>

#include "kernels.h"

namespace facegate {

uint16_t floatToHalf(float f) {
  uint32_t x;
  std::memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t mant = x & 0x7FFFFFu;
  const int32_t exp = static_cast<int32_t>((x >> 23) & 0xFF) - 127 + 15;
  if (((x >> 23) & 0xFF) == 0xFF) return static_cast<uint16_t>(sign | 0x7C00u | (mant ? 0x200u : 0));  // inf, NaN
  if (exp >= 31) return static_cast<uint16_t>(sign | 0x7C00u);                                         // overflow
  if (exp <= 0) {
    if (exp < -10) return static_cast<uint16_t>(sign);  // below half the smallest subnormal: zero
    mant |= 0x800000u;
    const int shift = 14 - exp;  // into the 10-bit subnormal mantissa
    uint32_t half = mant >> shift;
    const uint32_t rest = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rest > halfway || (rest == halfway && (half & 1))) ++half;
    return static_cast<uint16_t>(sign | half);
  }
  uint32_t half = (static_cast<uint32_t>(exp) << 10) | (mant >> 13);
  const uint32_t rest = mant & 0x1FFFu;
  if (rest > 0x1000u || (rest == 0x1000u && (half & 1))) ++half;  // may carry into the exponent: correct
  return static_cast<uint16_t>(sign | half);
}

float halfToFloat(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1Fu;
  uint32_t mant = h & 0x3FFu;
  uint32_t x;
  if (exp == 0x1F) {
    x = sign | 0x7F800000u | (mant << 13);
  } else if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // subnormal: normalise
      uint32_t e = 0;
      while ((mant & 0x400u) == 0) {
        mant <<= 1;
        ++e;
      }
      x = sign | ((127 - 15 + 1 - e) << 23) | ((mant & 0x3FFu) << 13);
    }
  } else {
    x = sign | ((exp + 127 - 15) << 23) | (mant << 13);
  }
  float f;
  std::memcpy(&f, &x, 4);
  return f;
}

void dotRowsF16Scalar(const float* q, const uint16_t* rows, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) {
    const uint16_t* r = rows + i * d;
    float s = 0.0f;
    for (size_t j = 0; j < d; ++j) s += q[j] * halfToFloat(r[j]);
    out[i] = s;
  }
}

void toHalfScalar(const float* x, uint16_t* out, size_t n) {
  for (size_t j = 0; j < n; ++j) out[j] = floatToHalf(x[j]);
}

namespace {

float dot(const float* a, const float* b, size_t d) {
  float s = 0.0f;
  for (size_t j = 0; j < d; ++j) s += a[j] * b[j];
  return s;
}

void dotRows(const float* q, const float* rows, size_t n, size_t d, float* out) {
  for (size_t i = 0; i < n; ++i) out[i] = dot(q, rows + i * d, d);
}

float sumSquares(const float* x, size_t d) { return dot(x, x, d); }

void scale(float* x, size_t d, float s) {
  for (size_t j = 0; j < d; ++j) x[j] *= s;
}

float sum(const float* x, size_t n) {
  float s = 0.0f;
  for (size_t j = 0; j < n; ++j) s += x[j];
  return s;
}

}  // namespace

const Kernels kScalarKernels = {dotRows, sumSquares, scale, sum, dotRowsF16Scalar, toHalfScalar};

}  // namespace facegate
