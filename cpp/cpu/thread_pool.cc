#include "cpu/thread_pool.h"

#include <algorithm>
#include <string>

#include "mfn/engine.h"

namespace mfn {
namespace cpu {

Status resolve_threads(int requested, int* resolved) {
  if (requested < 0 || requested > kMaxThreads) {
    return Status(Code::invalid_argument, "threads must be between 0 and " + std::to_string(kMaxThreads));
  }
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  *resolved = requested > 0 ? requested : std::min(cores, kMaxThreads);
  return Status::ok();
}

namespace {
// Pause iterations (tens of microseconds) before a waiting thread starts
// yielding its core: long enough to bridge the imbalance between slices of
// one layer, short enough not to starve other processes on a busy machine.
constexpr int kSpinsBeforeYield = 1000;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

ThreadPool::ThreadPool(int threads) : size_(threads < 1 ? 1 : threads) {
  workers_.reserve(size_ - 1);
  for (int i = 1; i < size_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::run(Task fn, void* ctx) {
  if (size_ == 1) {
    fn(ctx, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    task_ = fn;
    ctx_ = ctx;
    running_.store(size_ - 1, std::memory_order_relaxed);
    ++generation_;
  }
  wake_.notify_all();
  fn(ctx, 0);
  // Workers finish at about the same time as the caller: spin, then yield.
  for (int spins = 0; running_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kSpinsBeforeYield) cpu_relax();
    else std::this_thread::yield();
  }
}

void ThreadPool::barrier() {
  if (size_ == 1) return;
  const uint32_t phase = barrier_phase_.load(std::memory_order_acquire);
  if (barrier_count_.fetch_add(1, std::memory_order_acq_rel) == size_ - 1) {
    barrier_count_.store(0, std::memory_order_relaxed);
    barrier_phase_.store(phase + 1, std::memory_order_release);
    return;
  }
  for (int spins = 0; barrier_phase_.load(std::memory_order_acquire) == phase; ++spins) {
    if (spins < kSpinsBeforeYield) cpu_relax();
    else std::this_thread::yield();
  }
}

// Runs on worker thread `participant` for the pool's lifetime.
void ThreadPool::worker_main(int participant) {
  uint64_t seen = 0;
  for (;;) {
    Task task;
    void* ctx;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      task = task_;
      ctx = ctx_;
    }
    task(ctx, participant);
    running_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace cpu
}  // namespace mfn
