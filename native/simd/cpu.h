// Which SIMD instruction set this process uses for its vector kernels, chosen once at start
// from what the CPU (and the OS, for the wide registers) supports.
#pragma once

namespace facegate {

enum class SimdLevel { Scalar = 0, Sse2 = 1, Avx2 = 2, Avx512 = 3, Neon = 4 };

// The widest level this CPU and OS support (x86-64: AVX-512F > AVX2+FMA+F16C > SSE2; arm64: NEON).
SimdLevel detectSimdLevel();

// The level kernels are dispatched to now. Starts at detectSimdLevel(); tests and benchmarks may
// lower it to compare each kernel against the scalar reference.
SimdLevel activeSimdLevel();
// Returns false (and changes nothing) when the CPU cannot run `level`.
bool setActiveSimdLevel(SimdLevel level);

const char* simdLevelName(SimdLevel level);
// Returns false when `name` is not one of the names simdLevelName gives.
bool parseSimdLevel(const char* name, SimdLevel* out);

}  // namespace facegate
