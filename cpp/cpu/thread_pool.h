// A small persistent thread pool for the CPU backend (no OpenMP): the caller
// thread is participant 0, the pool's workers are 1..size()-1. run() blocks
// until every participant has returned. One caller thread at a time.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "mfn/status.h"

namespace mfn {
namespace cpu {

// The one threads rule of the engine (kMaxThreads in mfn/engine.h), for
// every pool it makes (CPU backend, gallery): 0 = all cores, at most
// kMaxThreads; 1..kMaxThreads as given; anything else invalid_argument.
Status resolve_threads(int requested, int* resolved);

class ThreadPool {
 public:
  // threads >= 1 participants in total (the caller included).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  // Runs fn(ctx, participant) on every participant and waits for all.
  using Task = void (*)(void* ctx, int participant);
  void run(Task fn, void* ctx);

  // Blocks participant until all size() participants of the current run()
  // reach it. Only valid inside a task. Spins briefly, then yields: layers
  // between barriers take tens of microseconds.
  void barrier();

 private:
  void worker_main(int participant);

  int size_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  uint64_t generation_ = 0;       // bumped per run(), under mutex_
  bool stopping_ = false;
  Task task_ = nullptr;
  void* ctx_ = nullptr;
  std::atomic<int> running_{0};   // workers still inside the current task
  std::atomic<int> barrier_count_{0};
  std::atomic<uint32_t> barrier_phase_{0};
};

}  // namespace cpu
}  // namespace mfn
