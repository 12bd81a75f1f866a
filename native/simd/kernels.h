// Vector kernels, one table per instruction set. Each table lives in its own source file, which
// is the only one compiled with that instruction set's flags (CMakeLists.txt), so nothing
// outside it can emit instructions the CPU may lack. These files include no standard-library
// templates: an inline function instantiated under -mavx512f could otherwise be the copy the
// linker keeps for the whole addon.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cpu.h"

namespace facegate {

struct Kernels {
  // out[i] = sum_j q[j] * rows[i * d + j] for i in [0, n).
  void (*dotRows)(const float* q, const float* rows, size_t n, size_t d, float* out);
  // sum_j x[j]^2
  float (*sumSquares)(const float* x, size_t d);
  // x[j] *= s
  void (*scale)(float* x, size_t d, float s);
  // sum_j x[j]; reads memory as fast as the scan does, to measure the read bandwidth bound.
  float (*sum)(const float* x, size_t n);
  // out[i] = sum_j q[j] * half(rows[i * d + j]) for IEEE half-precision rows (the fp16 copy).
  void (*dotRowsF16)(const float* q, const uint16_t* rows, size_t n, size_t d, float* out);
  // out[j] = x[j] rounded to the nearest IEEE half (ties to even); |x[j]| must be < 65520.
  void (*toHalf)(const float* x, uint16_t* out, size_t n);
};

// The portable half-float conversions (round to nearest even, subnormals exact), shared by the
// scalar table and by levels without a hardware conversion (SSE2).
uint16_t floatToHalf(float f);
float halfToFloat(uint16_t h);
void dotRowsF16Scalar(const float* q, const uint16_t* rows, size_t n, size_t d, float* out);
void toHalfScalar(const float* x, uint16_t* out, size_t n);

extern const Kernels kScalarKernels;
#if defined(_M_X64) || defined(__x86_64__)
extern const Kernels kSse2Kernels;
extern const Kernels kAvx2Kernels;
extern const Kernels kAvx512Kernels;
#endif
#if defined(_M_ARM64) || defined(__aarch64__)
extern const Kernels kNeonKernels;
#endif

const Kernels& kernelsFor(SimdLevel level);
inline const Kernels& activeKernels() { return kernelsFor(activeSimdLevel()); }

}  // namespace facegate
