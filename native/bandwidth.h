// Measures how fast this machine reads memory with every core, the bound any exact scan over
// vectors in RAM is held to (the benchmark reports search latency against it).
#pragma once

#include <cstddef>

namespace facegate {

// Best-of-`repeats` read bandwidth in GB/s (1e9 bytes per second) over a buffer of `bytes`,
// read with the active SIMD sum kernel on parallelism() threads.
double measureReadBandwidth(size_t bytes, int repeats);

}  // namespace facegate
