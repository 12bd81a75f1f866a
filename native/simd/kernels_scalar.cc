// The portable reference: plain loops the compiler may not reorder (no fast-math), used where
// no SIMD level is available and as the baseline the SIMD kernels are tested against.
#include "kernels.h"

namespace facegate {
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

const Kernels kScalarKernels = {dotRows, sumSquares, scale, sum};

}  // namespace facegate
