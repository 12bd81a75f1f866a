#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>

namespace facegate {
namespace {

struct Job {
  const std::function<void(size_t)>* fn = nullptr;
  size_t count = 0;
  std::atomic<size_t> next{0};
  std::atomic<size_t> finished{0};
  std::mutex mu;
  std::condition_variable allDone;
  std::exception_ptr error;

  // Takes tasks until none are left. Returns once this thread has nothing more to do.
  void work() {
    for (size_t i = next.fetch_add(1); i < count; i = next.fetch_add(1)) {
      try {
        (*fn)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
      }
      if (finished.fetch_add(1) + 1 == count) {
        std::lock_guard<std::mutex> lock(mu);
        allDone.notify_all();
      }
    }
  }
};

class Pool {
 public:
  explicit Pool(size_t workers) : workers_(workers) {
    for (size_t i = 0; i < workers; ++i) std::thread([this] { loop(); }).detach();
  }
  size_t workers() const { return workers_; }

  void post(const std::shared_ptr<Job>& job, size_t helpers) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (size_t i = 0; i < helpers; ++i) queue_.push_back(job);
    }
    if (helpers == 1)
      wake_.notify_one();
    else
      wake_.notify_all();
  }

 private:
  void loop() {
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        wake_.wait(lock, [this] { return !queue_.empty(); });
        job = std::move(queue_.front());
        queue_.pop_front();
      }
      job->work();
    }
  }

  size_t workers_;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<std::shared_ptr<Job>> queue_;
};

// Deliberately never destroyed: its threads wait on its condition variable until the process
// ends, and joining them from a static destructor would race with the addon being unloaded.
Pool& pool() {
  static Pool* p = [] {
    const unsigned hw = std::thread::hardware_concurrency();
    return new Pool(hw > 1 ? hw - 1 : 0);
  }();
  return *p;
}

}  // namespace

size_t parallelism() { return pool().workers() + 1; }

void parallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (n == 1 || pool().workers() == 0) {
    for (size_t i = 0; i < n; ++i) fn(i);
    return;
  }
  auto job = std::make_shared<Job>();
  job->fn = &fn;  // fn outlives the job's use: we wait for every task below
  job->count = n;
  pool().post(job, std::min(n - 1, pool().workers()));
  job->work();
  std::unique_lock<std::mutex> lock(job->mu);
  job->allDone.wait(lock, [&] { return job->finished.load() == n; });
  if (job->error) std::rethrow_exception(job->error);
}

}  // namespace facegate
