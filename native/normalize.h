// In-place L2 normalisation of a batch of vectors with the active SIMD kernels.
#pragma once

#include <cstddef>

namespace facegate {

// Normalises the n rows of d floats in x. All or nothing: when a row is zero or not finite,
// throws std::invalid_argument naming the first such row and leaves x untouched.
void normalizeRows(float* x, size_t n, size_t d);

}  // namespace facegate
