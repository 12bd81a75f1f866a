// Which SIMD instruction set this process uses for its vector kernels, chosen once at start
// from what the CPU (and the OS, for the wide registers) supports.
#pragma once

#include <string>
#include <vector>

namespace facegate {

// What a benchmark or `doctor` prints so figures from two sites can be compared: the vendor
// ("GenuineIntel", "AuthenticAMD"), the brand string, and the instruction-set extensions that
// matter to inference and search (x86-64: sse4_2 avx avx2 fma f16c avx512f avx512bw avx512vl
// avx512_vnni avx512_bf16 avx512_fp16 amx_tile; arm64: neon).
struct CpuDescription {
  std::string vendor;
  std::string model;
  std::vector<std::string> features;
};
CpuDescription describeCpu();

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
