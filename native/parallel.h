// A small fixed pool that lets one call use every core: parallelFor runs tasks on the calling
// thread and on the pool's workers. The caller takes tasks too, so a busy pool (several
// searches at once from libuv's threads) never leaves a search waiting for a worker to start:
// the caller simply does more of its own tasks.
#pragma once

#include <cstddef>
#include <functional>

namespace facegate {

// How many threads a parallelFor can use at most: the pool's workers plus the caller.
size_t parallelism();

// Runs fn(i) for every i in [0, n) and returns when all have finished. An exception thrown by
// a task is rethrown here (the first one; the remaining tasks still run).
void parallelFor(size_t n, const std::function<void(size_t)>& fn);

}  // namespace facegate
