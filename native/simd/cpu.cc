#include "cpu.h"

#include <atomic>
#include <cstring>

#if defined(_M_X64) || defined(__x86_64__)
#define FACEGATE_X86 1
#if defined(_MSC_VER)
#include <intrin.h>
#include <immintrin.h>
#else
#include <cpuid.h>
#endif
#elif defined(_M_ARM64) || defined(__aarch64__)
#define FACEGATE_ARM64 1
#endif

namespace facegate {
namespace {

#ifdef FACEGATE_X86
void cpuid(unsigned leaf, unsigned sub, unsigned regs[4]) {
#if defined(_MSC_VER)
  int r[4];
  __cpuidex(r, static_cast<int>(leaf), static_cast<int>(sub));
  for (int i = 0; i < 4; ++i) regs[i] = static_cast<unsigned>(r[i]);
#else
  __cpuid_count(leaf, sub, regs[0], regs[1], regs[2], regs[3]);
#endif
}

// The OS must save the wide registers on a context switch, or using them corrupts state:
// XCR0 tells which register files it saves.
unsigned long long xcr0() {
#if defined(_MSC_VER)
  return _xgetbv(0);
#else
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
#endif
}

SimdLevel detectX86() {
  unsigned r[4] = {0, 0, 0, 0};
  cpuid(0, 0, r);
  const unsigned maxLeaf = r[0];
  cpuid(1, 0, r);
  const bool osxsave = (r[2] >> 27) & 1;
  const bool avx = (r[2] >> 28) & 1;
  const bool fma = (r[2] >> 12) & 1;
  const bool f16c = (r[2] >> 29) & 1;  // half-float conversion, used by the fp16 scan
  if (!osxsave || !avx || maxLeaf < 7) return SimdLevel::Sse2;
  const unsigned long long xcr = xcr0();
  const bool osYmm = (xcr & 0x6) == 0x6;    // SSE and AVX state
  const bool osZmm = (xcr & 0xE6) == 0xE6;  // plus opmask and the upper ZMM halves
  cpuid(7, 0, r);
  const bool avx2 = (r[1] >> 5) & 1;
  const bool avx512f = (r[1] >> 16) & 1;
  if (avx512f && osZmm) return SimdLevel::Avx512;
  if (avx2 && fma && f16c && osYmm) return SimdLevel::Avx2;
  return SimdLevel::Sse2;
}

CpuDescription describeX86() {
  CpuDescription d;
  unsigned r[4] = {0, 0, 0, 0};
  cpuid(0, 0, r);
  const unsigned maxLeaf = r[0];
  char vendor[13] = {0};
  std::memcpy(vendor, &r[1], 4);
  std::memcpy(vendor + 4, &r[3], 4);
  std::memcpy(vendor + 8, &r[2], 4);
  d.vendor = vendor;
  cpuid(0x80000000u, 0, r);
  if (r[0] >= 0x80000004u) {
    char brand[49] = {0};
    for (unsigned i = 0; i < 3; ++i) {
      cpuid(0x80000002u + i, 0, r);
      std::memcpy(brand + 16 * i, r, 16);
    }
    d.model = brand;
    const size_t first = d.model.find_first_not_of(' ');
    d.model = first == std::string::npos ? std::string() : d.model.substr(first);
    while (!d.model.empty() && d.model.back() == ' ') d.model.pop_back();
  }
  auto add = [&d](bool has, const char* name) {
    if (has) d.features.emplace_back(name);
  };
  cpuid(1, 0, r);
  const unsigned ecx1 = r[2];
  add((r[3] >> 26) & 1, "sse2");
  add((ecx1 >> 20) & 1, "sse4_2");
  const bool osxsave = (ecx1 >> 27) & 1;
  const unsigned long long xcr = osxsave ? xcr0() : 0;
  const bool osYmm = (xcr & 0x6) == 0x6;
  const bool osZmm = (xcr & 0xE6) == 0xE6;
  const bool osAmx = (xcr & 0x60000) == 0x60000;  // XTILECFG and XTILEDATA
  add(osYmm && ((ecx1 >> 28) & 1), "avx");
  add(osYmm && ((ecx1 >> 12) & 1), "fma");
  add((ecx1 >> 29) & 1, "f16c");
  if (maxLeaf >= 7) {
    cpuid(7, 0, r);
    const unsigned ebx = r[1], ecx = r[2], edx = r[3];
    add(osYmm && ((ebx >> 5) & 1), "avx2");
    add(osZmm && ((ebx >> 16) & 1), "avx512f");
    add(osZmm && ((ebx >> 30) & 1), "avx512bw");
    add(osZmm && ((ebx >> 31) & 1), "avx512vl");
    add(osZmm && ((ecx >> 11) & 1), "avx512_vnni");
    add(osZmm && ((edx >> 23) & 1), "avx512_fp16");
    add(osAmx && ((edx >> 24) & 1), "amx_tile");
    cpuid(7, 1, r);
    add(osZmm && ((r[0] >> 5) & 1), "avx512_bf16");
  }
  return d;
}
#endif

SimdLevel detectOnce() {
#if defined(FACEGATE_X86)
  return detectX86();
#elif defined(FACEGATE_ARM64)
  return SimdLevel::Neon;  // Advanced SIMD is mandatory on AArch64
#else
  return SimdLevel::Scalar;
#endif
}

std::atomic<int>& activeSlot() {
  static std::atomic<int> slot{static_cast<int>(detectSimdLevel())};
  return slot;
}

}  // namespace

CpuDescription describeCpu() {
#if defined(FACEGATE_X86)
  return describeX86();
#elif defined(FACEGATE_ARM64)
  return CpuDescription{"arm", "", {"neon"}};
#else
  return CpuDescription{"unknown", "", {}};
#endif
}

SimdLevel detectSimdLevel() {
  static const SimdLevel level = detectOnce();
  return level;
}

SimdLevel activeSimdLevel() { return static_cast<SimdLevel>(activeSlot().load(std::memory_order_relaxed)); }

bool setActiveSimdLevel(SimdLevel level) {
  const SimdLevel best = detectSimdLevel();
  bool ok = level == SimdLevel::Scalar;
  if (best == SimdLevel::Neon)
    ok = ok || level == SimdLevel::Neon;
  else if (level != SimdLevel::Neon)
    ok = ok || static_cast<int>(level) <= static_cast<int>(best);
  if (ok) activeSlot().store(static_cast<int>(level), std::memory_order_relaxed);
  return ok;
}

const char* simdLevelName(SimdLevel level) {
  switch (level) {
    case SimdLevel::Scalar:
      return "scalar";
    case SimdLevel::Sse2:
      return "sse2";
    case SimdLevel::Avx2:
      return "avx2";
    case SimdLevel::Avx512:
      return "avx512";
    case SimdLevel::Neon:
      return "neon";
  }
  return "scalar";
}

bool parseSimdLevel(const char* name, SimdLevel* out) {
  for (int i = 0; i <= static_cast<int>(SimdLevel::Neon); ++i) {
    const SimdLevel level = static_cast<SimdLevel>(i);
    if (std::strcmp(name, simdLevelName(level)) == 0) {
      *out = level;
      return true;
    }
  }
  return false;
}

}  // namespace facegate
