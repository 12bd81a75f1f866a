#include "bandwidth.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

#include "parallel.h"
#include "simd/kernels.h"

namespace facegate {

double measureReadBandwidth(size_t bytes, int repeats) {
  const size_t n = std::max<size_t>(bytes / sizeof(float), 1 << 16);
  std::vector<float> buffer(n, 1.0f);  // written once, so every page is really mapped
  const Kernels& kern = activeKernels();
  const size_t tasks = parallelism() * 4;  // the same split the scan uses
  const size_t per = (n + tasks - 1) / tasks;
  std::atomic<float> sink{0.0f};
  double best = 0.0;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    const auto start = std::chrono::steady_clock::now();
    parallelFor(tasks, [&](size_t t) {
      const size_t begin = std::min(n, t * per);
      const size_t end = std::min(n, begin + per);
      const float s = kern.sum(buffer.data() + begin, end - begin);
      float cur = sink.load(std::memory_order_relaxed);
      while (!sink.compare_exchange_weak(cur, cur + s, std::memory_order_relaxed)) {
      }
    });
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, static_cast<double>(n * sizeof(float)) / seconds / 1e9);
  }
  return sink.load() < 0.0f ? -best : best;  // keeps the sums observable so they are not optimised away
}

}  // namespace facegate
