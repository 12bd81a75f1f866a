#include "normalize.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "simd/kernels.h"

namespace facegate {

void normalizeRows(float* x, size_t n, size_t d) {
  const Kernels& kern = activeKernels();
  std::vector<float> sumSquares(n);
  for (size_t i = 0; i < n; ++i) {
    const float s = kern.sumSquares(x + i * d, d);
    // A NaN or infinite component makes the sum NaN or infinite; a sum that overflows float
    // cannot be normalised in float either.
    if (!(s > 0.0f) || !std::isfinite(s)) {
      throw std::invalid_argument("expected every vector to have a finite, non-zero norm but vector " +
                                  std::to_string(i) +
                                  (s == 0.0f ? " is all zeros" : " has a non-finite component or norm"));
    }
    sumSquares[i] = s;
  }
  for (size_t i = 0; i < n; ++i)
    kern.scale(x + i * d, d, static_cast<float>(1.0 / std::sqrt(static_cast<double>(sumSquares[i]))));
}

}  // namespace facegate
