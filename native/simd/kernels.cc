#include "kernels.h"

namespace facegate {

const Kernels& kernelsFor(SimdLevel level) {
  switch (level) {
#if defined(_M_X64) || defined(__x86_64__)
    case SimdLevel::Avx512:
      return kAvx512Kernels;
    case SimdLevel::Avx2:
      return kAvx2Kernels;
    case SimdLevel::Sse2:
      return kSse2Kernels;
#endif
#if defined(_M_ARM64) || defined(__aarch64__)
    case SimdLevel::Neon:
      return kNeonKernels;
#endif
    default:
      return kScalarKernels;
  }
}

}  // namespace facegate
