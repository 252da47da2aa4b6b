// The batching queue with real threads and a stand-in run function (this
// tests the queue; the engine is tested elsewhere). The run function writes
// rows that are a deterministic function of each image's pixels, so a row
// in the wrong place is caught. Ordering is made deterministic by holding
// the worker inside a run call (a gate) while requests pile up; timeouts are
// generous and only lower time bounds are asserted.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "core/batcher.h"
#include "tests/check.h"

namespace {

using mfn::Batcher;
using mfn::BatcherOptions;
using mfn::BatchRequest;
using mfn::Code;
using mfn::ImageInput;
using mfn::Status;
using Clock = std::chrono::steady_clock;

constexpr size_t kRow = 4;  // floats per image
constexpr auto kTimeout = std::chrono::seconds(60);

// A 2x1 RGB image whose pixels encode an id (< 2^24) and the flip setting
// it is submitted with, so the run function can check both.
struct TestImage {
  uint8_t pixels[6];
  explicit TestImage(uint32_t id, bool flip) {
    pixels[0] = static_cast<uint8_t>(id & 0xff);
    pixels[1] = static_cast<uint8_t>((id >> 8) & 0xff);
    pixels[2] = static_cast<uint8_t>((id >> 16) & 0xff);
    pixels[3] = flip ? 1 : 0;
    pixels[4] = static_cast<uint8_t>(id * 7);
    pixels[5] = 42;
  }
  ImageInput input() const {
    ImageInput in;
    in.data = pixels;
    in.size = sizeof(pixels);
    in.width = 2;
    in.height = 1;
    in.channels = 3;
    return in;
  }
};

uint32_t image_id(const ImageInput& in) {
  return in.data[0] | (uint32_t(in.data[1]) << 8) | (uint32_t(in.data[2]) << 16);
}

// The row a correct batcher must deliver for an image.
void expected_row(uint32_t id, bool flip, float row[kRow]) {
  const TestImage image(id, flip);
  int sum = 0;
  for (uint8_t p : image.pixels) sum += p;
  row[0] = static_cast<float>(id);
  row[1] = static_cast<float>(sum);
  row[2] = flip ? 1.0f : 0.0f;
  row[3] = 2.0f;
}

// Run function state: records batches, can hold the worker inside a call,
// can fail batches containing a given image id.
struct FakeRun {
  std::mutex mu;
  std::condition_variable cv;
  bool gate_open = true;
  int entered = 0;                       // run calls started
  std::vector<size_t> batch_sizes;
  std::vector<uint32_t> seen;            // image ids run, in order
  int mixed_flip_batches = 0;
  int oversized_batches = 0;
  std::set<std::thread::id> threads;
  int max_batch = 0;
  int64_t fail_id = -1;

  // Closes the gate; returns how many run calls have started so far.
  int close() {
    std::lock_guard<std::mutex> lock(mu);
    gate_open = false;
    return entered;
  }
  void open() {
    {
      std::lock_guard<std::mutex> lock(mu);
      gate_open = true;
    }
    cv.notify_all();
  }
  // Waits until `count` run calls have started.
  bool wait_entered(int count) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, kTimeout, [&] { return entered >= count; });
  }

  Status operator()(const ImageInput* images, size_t n, bool flip, float* out) {
    std::unique_lock<std::mutex> lock(mu);
    ++entered;
    threads.insert(std::this_thread::get_id());
    batch_sizes.push_back(n);
    if (n > static_cast<size_t>(max_batch)) ++oversized_batches;
    bool fail = false;
    for (size_t i = 0; i < n; ++i) {
      seen.push_back(image_id(images[i]));
      if ((images[i].data[3] != 0) != flip) ++mixed_flip_batches;
      if (static_cast<int64_t>(image_id(images[i])) == fail_id) fail = true;
    }
    cv.notify_all();
    cv.wait(lock, [&] { return gate_open; });
    lock.unlock();
    for (size_t i = 0; i < n; ++i) {
      int sum = 0;
      for (int k = 0; k < 6; ++k) sum += images[i].data[k];
      out[i * kRow + 0] = static_cast<float>(image_id(images[i]));
      out[i * kRow + 1] = static_cast<float>(sum);
      out[i * kRow + 2] = flip ? 1.0f : 0.0f;
      out[i * kRow + 3] = static_cast<float>(images[i].width * images[i].height);
    }
    if (fail) return Status(Code::internal, "injected failure");
    return Status::ok();
  }
};

// One request with its images, output rows and completion record.
struct Job {
  std::vector<TestImage> images;
  std::vector<float> out;
  bool flip = false;
  std::mutex mu;
  std::condition_variable cv;
  int calls = 0;
  Status status;
  std::thread::id thread;
  std::shared_ptr<std::atomic<bool>> cancelled = std::make_shared<std::atomic<bool>>(false);
  std::function<void(Job&)> on_done;  // runs inside done(), before the record

  Job(uint32_t first_id, size_t n, bool flip_) : out(n * kRow, -1.0f), flip(flip_) {
    for (size_t i = 0; i < n; ++i) images.emplace_back(first_id + static_cast<uint32_t>(i), flip);
  }

  BatchRequest request() {
    BatchRequest r;
    for (const TestImage& image : images) r.images.push_back(image.input());
    r.flip = flip;
    r.out = out.data();
    r.cancelled = cancelled;
    r.done = [this](Status s) {
      if (on_done) on_done(*this);
      // Notified under the lock: a waiter may destroy the job as soon as it
      // can see the record.
      std::lock_guard<std::mutex> lock(mu);
      ++calls;
      status = std::move(s);
      thread = std::this_thread::get_id();
      cv.notify_all();
    };
    return r;
  }

  bool wait() {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, kTimeout, [&] { return calls > 0; });
  }
  int call_count() {
    std::lock_guard<std::mutex> lock(mu);
    return calls;
  }
  Code code() {
    std::lock_guard<std::mutex> lock(mu);
    return status.code();
  }
  bool rows_correct() const {
    for (size_t i = 0; i < images.size(); ++i) {
      float want[kRow];
      expected_row(image_id(images[i].input()), flip, want);
      for (size_t k = 0; k < kRow; ++k) {
        if (out[i * kRow + k] != want[k]) return false;
      }
    }
    return true;
  }
};

std::unique_ptr<Batcher> make_batcher(FakeRun* run, int max_batch, int64_t delay_us,
                                      size_t max_queue = 4096) {
  run->max_batch = max_batch;
  BatcherOptions options;
  options.max_batch = max_batch;
  options.max_delay_us = delay_us;
  options.max_queue = max_queue;
  options.row_floats = kRow;
  std::unique_ptr<Batcher> batcher;
  const Status s = Batcher::create(
      options, [run](const ImageInput* im, size_t n, bool flip, float* out) {
        return (*run)(im, n, flip, out);
      },
      &batcher);
  REQUIRE(s.is_ok());
  return batcher;
}

// Holds the worker inside a run call on a one-image request, so that what
// is submitted next waits in the queue.
std::unique_ptr<Job> occupy_worker(Batcher* batcher, FakeRun* run, uint32_t id) {
  const int before = run->close();
  auto job = std::make_unique<Job>(id, 1, false);
  REQUIRE(batcher->submit(job->request()).is_ok());
  REQUIRE(run->wait_entered(before + 1));
  return job;
}

void test_concurrent_submitters() {
  FakeRun run;
  auto batcher = make_batcher(&run, 16, 500);
  constexpr int kThreads = 8, kPerThread = 150, kWindow = 10;
  std::vector<std::vector<std::unique_ptr<Job>>> jobs(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> submit_failures{0}, wait_failures{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const size_t n = 1 + (t + i) % 3;
        const bool flip = (t + i) % 4 == 0;
        jobs[t].push_back(std::make_unique<Job>(uint32_t(t * 100000 + i * 10), n, flip));
        if (!batcher->submit(jobs[t].back()->request()).is_ok()) ++submit_failures;
        if (i % kWindow == kWindow - 1) {  // keep a bounded window in flight
          for (int k = i - kWindow + 1; k <= i; ++k) {
            if (!jobs[t][k]->wait()) ++wait_failures;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  batcher->shutdown();  // every done() has run when this returns
  CHECK(submit_failures == 0);
  CHECK(wait_failures == 0);
  std::set<std::thread::id> done_threads;
  int wrong = 0, not_once = 0, not_ok = 0;
  size_t images = 0;
  for (auto& list : jobs) {
    for (auto& job : list) {
      if (job->call_count() != 1) ++not_once;
      if (job->code() != Code::ok) ++not_ok;
      if (!job->rows_correct()) ++wrong;
      done_threads.insert(job->thread);
      images += job->images.size();
    }
  }
  CHECK_MSG(not_once == 0, "%d requests not completed exactly once", not_once);
  CHECK_MSG(not_ok == 0, "%d requests failed", not_ok);
  CHECK_MSG(wrong == 0, "%d requests with wrong rows", wrong);
  CHECK(run.threads.size() == 1);
  CHECK(done_threads.size() == 1 && *done_threads.begin() == *run.threads.begin());
  CHECK(run.oversized_batches == 0);
  CHECK(run.mixed_flip_batches == 0);
  const mfn::BatcherStats stats = batcher->stats();
  CHECK(stats.images == images);
  CHECK(stats.requests == uint64_t(kThreads * kPerThread));
  CHECK(stats.largest_batch <= 16);
  std::printf("concurrent: %llu requests, %llu images in %llu batches (mean %.2f)\n",
              (unsigned long long)stats.requests, (unsigned long long)stats.images,
              (unsigned long long)stats.batches, stats.mean_batch());
}

void test_coalescing_exact() {
  FakeRun run;
  auto batcher = make_batcher(&run, 16, 1000);
  auto first = occupy_worker(batcher.get(), &run, 1);
  constexpr int kRequests = 100;
  std::vector<std::unique_ptr<Job>> jobs;
  for (int i = 0; i < kRequests; ++i) jobs.push_back(std::make_unique<Job>(1000 + i, 1, false));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < kRequests; i += 4) CHECK(batcher->submit(jobs[i]->request()).is_ok());
    });
  }
  for (auto& th : threads) th.join();
  CHECK(batcher->queued_images() == kRequests);
  run.open();
  CHECK(first->wait());
  for (auto& job : jobs) {
    CHECK(job->wait());
    CHECK(job->code() == Code::ok && job->rows_correct());
  }
  // 1 (the occupying request) + 6 full batches of 16 + the 4 left over.
  const mfn::BatcherStats stats = batcher->stats();
  CHECK_MSG(stats.batches == 8, "%llu batches", (unsigned long long)stats.batches);
  CHECK(stats.largest_batch == 16);
  CHECK(run.oversized_batches == 0);
  CHECK(stats.images == kRequests + 1);
}

void test_coalescing_by_delay() {
  // Threads released together, each submitting one image; a long delay
  // gathers them without the worker being held.
  FakeRun run;
  auto batcher = make_batcher(&run, 64, 200000);
  constexpr int kThreads = 32;
  std::vector<std::unique_ptr<Job>> jobs;
  for (int i = 0; i < kThreads; ++i) jobs.push_back(std::make_unique<Job>(500 + i, 1, false));
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      {
        std::unique_lock<std::mutex> lock(mu);
        cv.wait(lock, [&] { return go; });
      }
      CHECK(batcher->submit(jobs[t]->request()).is_ok());
      CHECK(jobs[t]->wait());
    });
  }
  {
    std::lock_guard<std::mutex> lock(mu);
    go = true;
  }
  cv.notify_all();
  for (auto& th : threads) th.join();
  for (auto& job : jobs) CHECK(job->code() == Code::ok && job->rows_correct());
  const mfn::BatcherStats stats = batcher->stats();
  CHECK_MSG(stats.batches <= kThreads / 4, "%llu batches for %d requests",
            (unsigned long long)stats.batches, kThreads);
  CHECK(stats.mean_batch() >= 4.0);
}

void test_delay_flushes_lone_request() {
  FakeRun run;
  auto batcher = make_batcher(&run, 64, 20000);
  Job job(7, 1, false);
  const auto start = Clock::now();
  REQUIRE(batcher->submit(job.request()).is_ok());
  CHECK(job.wait());
  const auto waited = Clock::now() - start;
  CHECK(job.code() == Code::ok && job.rows_correct());
  CHECK(waited >= std::chrono::milliseconds(20));  // it did wait for company
  CHECK(batcher->stats().batches == 1);

  auto immediate = make_batcher(&run, 64, 0);
  Job job2(8, 2, true);
  REQUIRE(immediate->submit(job2.request()).is_ok());
  CHECK(job2.wait());
  CHECK(job2.code() == Code::ok && job2.rows_correct());
}

void test_queue_full() {
  FakeRun run;
  auto batcher = make_batcher(&run, 8, 0, 10);
  auto first = occupy_worker(batcher.get(), &run, 1);
  Job a(10, 4, false), b(20, 6, true), c(30, 1, false);
  CHECK(batcher->submit(a.request()).is_ok());
  CHECK(batcher->submit(b.request()).is_ok());
  BatchRequest refused = c.request();
  const Status full = batcher->submit(std::move(refused));
  CHECK(full.code() == Code::queue_full);
  CHECK(!full.message().empty());
  CHECK(batcher->stats().rejected == 1);
  run.open();
  CHECK(first->wait() && a.wait() && b.wait());
  CHECK(a.rows_correct() && b.rows_correct());
  CHECK(c.call_count() == 0);  // a refused request is never completed

  // The refused request was left intact and goes through once there is room.
  REQUIRE(refused.images.size() == 1 && refused.done && refused.out == c.out.data());
  CHECK(batcher->submit(std::move(refused)).is_ok());
  CHECK(c.wait());
  CHECK(c.call_count() == 1 && c.code() == Code::ok && c.rows_correct());

  // An empty queue admits a request bigger than max_queue.
  Job big(100, 25, false);
  CHECK(batcher->submit(big.request()).is_ok());
  CHECK(big.wait());
  CHECK(big.code() == Code::ok && big.rows_correct());

  // Work admitted at an earlier stage goes in however full the queue is.
  auto busy = occupy_worker(batcher.get(), &run, 1);
  Job fill(200, 12, false), later(300, 2, false), plain(400, 1, false);
  CHECK(batcher->submit(fill.request()).is_ok());
  BatchRequest refused_plain = plain.request();
  CHECK(batcher->submit(std::move(refused_plain)).code() == Code::queue_full);
  BatchRequest admitted = later.request();
  admitted.admitted = true;
  CHECK(batcher->submit(std::move(admitted)).is_ok());
  run.open();
  CHECK(busy->wait() && fill.wait() && later.wait());
  CHECK(later.code() == Code::ok && later.rows_correct());
  batcher->shutdown();
}

// A request larger than the room left (even larger than max_queue) is
// admitted while the queue is below max_queue, so a steady trickle of small
// requests cannot starve it; once max_queue images wait, everything is refused.
void test_large_request_admitted_beside_small_ones() {
  FakeRun run;
  auto batcher = make_batcher(&run, 8, 0, 10);
  auto first = occupy_worker(batcher.get(), &run, 1);
  Job small(10, 3, false), big(20, 25, false), late(30, 1, false);
  CHECK(batcher->submit(small.request()).is_ok());
  CHECK(batcher->submit(big.request()).is_ok());
  BatchRequest refused = late.request();
  CHECK(batcher->submit(std::move(refused)).code() == Code::queue_full);
  CHECK(batcher->queued_images() == 28);
  run.open();
  CHECK(first->wait() && small.wait() && big.wait());
  CHECK(small.rows_correct() && big.rows_correct());
  CHECK(late.call_count() == 0);
  batcher->shutdown();
}

void test_cancellation() {
  FakeRun run;
  auto batcher = make_batcher(&run, 4, 0);
  auto first = occupy_worker(batcher.get(), &run, 1);
  Job cancelled(100, 3, false), kept(200, 2, false);
  CHECK(batcher->submit(cancelled.request()).is_ok());
  CHECK(batcher->submit(kept.request()).is_ok());
  cancelled.cancelled->store(true);
  run.open();
  CHECK(cancelled.wait() && kept.wait());
  CHECK(cancelled.code() == Code::aborted);
  CHECK(kept.code() == Code::ok && kept.rows_correct());
  {
    std::lock_guard<std::mutex> lock(run.mu);
    for (uint32_t id : run.seen) CHECK(id < 100 || id >= 103);
  }

  // Cancelled while its first part runs: the rest is not run.
  Job split(300, 12, false);
  const int before = run.close();
  CHECK(batcher->submit(split.request()).is_ok());
  CHECK(run.wait_entered(before + 1));  // held inside split's first part
  split.cancelled->store(true);
  run.open();
  CHECK(split.wait());
  batcher->shutdown();
  CHECK(split.call_count() == 1);
  CHECK(split.code() == Code::aborted);
  std::lock_guard<std::mutex> lock(run.mu);
  CHECK(std::count_if(run.seen.begin(), run.seen.end(),
                      [](uint32_t id) { return id >= 300 && id < 312; }) == 4);
}

void test_shutdown_with_pending() {
  FakeRun run;
  auto batcher = make_batcher(&run, 4, 0);
  auto in_flight = occupy_worker(batcher.get(), &run, 1);
  Job pending1(10, 2, false), pending2(20, 9, true);
  CHECK(batcher->submit(pending1.request()).is_ok());
  CHECK(batcher->submit(pending2.request()).is_ok());

  std::thread closer([&] { batcher->shutdown(); });
  // Wait until the batcher refuses work, i.e. shutdown() has marked it.
  std::vector<std::unique_ptr<Job>> probes;
  const auto deadline = Clock::now() + kTimeout;
  for (;;) {
    probes.push_back(std::make_unique<Job>(900, 1, false));
    const Status s = batcher->submit(probes.back()->request());
    if (s.code() == Code::disposed) break;
    REQUIRE(s.is_ok() && Clock::now() < deadline);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(in_flight->call_count() == 0);  // still held in the run call
  run.open();
  closer.join();

  CHECK(in_flight->call_count() == 1);
  CHECK(in_flight->code() == Code::ok && in_flight->rows_correct());
  CHECK(pending1.call_count() == 1 && pending1.code() == Code::disposed);
  CHECK(pending2.call_count() == 1 && pending2.code() == Code::disposed);
  for (size_t i = 0; i + 1 < probes.size(); ++i) {  // accepted before the mark
    CHECK(probes[i]->call_count() == 1 && probes[i]->code() == Code::disposed);
  }
  CHECK(probes.back()->call_count() == 0);
  CHECK(run.entered == 1);

  Job late(50, 1, false);
  CHECK(batcher->submit(late.request()).code() == Code::disposed);
  batcher->shutdown();  // idempotent
  batcher.reset();
  CHECK(late.call_count() == 0);
}

// close() returns while a batch is still running; the worker then finishes
// that batch and disposes of the rest by itself.
void test_close_does_not_wait() {
  FakeRun run;
  auto batcher = make_batcher(&run, 4, 0);
  auto in_flight = occupy_worker(batcher.get(), &run, 1);
  Job pending1(10, 2, false), pending2(20, 9, true);
  CHECK(batcher->submit(pending1.request()).is_ok());
  CHECK(batcher->submit(pending2.request()).is_ok());

  batcher->close();  // the worker is held inside run: must return anyway
  Job late(50, 1, false);
  CHECK(batcher->submit(late.request()).code() == Code::disposed);
  CHECK(in_flight->call_count() == 0);
  CHECK(pending1.call_count() == 0 && pending2.call_count() == 0);

  run.open();
  CHECK(in_flight->wait() && pending1.wait() && pending2.wait());
  CHECK(in_flight->code() == Code::ok && in_flight->rows_correct());
  CHECK(pending1.code() == Code::disposed);
  CHECK(pending2.code() == Code::disposed);
  CHECK(run.entered == 1);
  batcher->close();  // idempotent
  batcher.reset();   // joins the worker, which has exited or is exiting
  CHECK(late.call_count() == 0);
  CHECK(in_flight->call_count() == 1 && pending1.call_count() == 1 && pending2.call_count() == 1);
}

void test_split_in_order() {
  FakeRun run;
  auto batcher = make_batcher(&run, 4, 0);
  auto first = occupy_worker(batcher.get(), &run, 1);
  Job big(100, 10, false), small(200, 3, false);
  CHECK(batcher->submit(big.request()).is_ok());
  CHECK(batcher->submit(small.request()).is_ok());
  run.open();
  CHECK(big.wait() && small.wait());
  CHECK(big.call_count() == 1 && big.code() == Code::ok && big.rows_correct());
  CHECK(small.call_count() == 1 && small.code() == Code::ok && small.rows_correct());
  batcher->shutdown();
  // [occupier] [big 0-3] [big 4-7] [big 8-9, small 0-1] [small 2]
  const std::vector<size_t> want_sizes = {1, 4, 4, 4, 1};
  CHECK(run.batch_sizes == want_sizes);
  std::vector<uint32_t> want_seen = {1};
  for (uint32_t i = 0; i < 10; ++i) want_seen.push_back(100 + i);
  for (uint32_t i = 0; i < 3; ++i) want_seen.push_back(200 + i);
  CHECK(run.seen == want_seen);
}

void test_flip_groups() {
  FakeRun run;
  auto batcher = make_batcher(&run, 8, 0);
  auto first = occupy_worker(batcher.get(), &run, 1);
  std::vector<std::unique_ptr<Job>> jobs;
  for (int i = 0; i < 20; ++i) {
    jobs.push_back(std::make_unique<Job>(1000 + i * 10, 1 + i % 3, i % 2 == 1));
    CHECK(batcher->submit(jobs.back()->request()).is_ok());
  }
  run.open();
  for (auto& job : jobs) {
    CHECK(job->wait());
    CHECK(job->code() == Code::ok && job->rows_correct());  // row[2] carries the flip
  }
  batcher->shutdown();
  CHECK(run.mixed_flip_batches == 0);
  // 19 images without flip and 20 with: each group packs into full batches
  // (8, 8, 3 and 8, 8, 4) after the occupier.
  CHECK_MSG(run.batch_sizes.size() == 7, "%zu batches", run.batch_sizes.size());
}

void test_run_failure() {
  FakeRun run;
  auto batcher = make_batcher(&run, 4, 0);
  auto first = occupy_worker(batcher.get(), &run, 1);
  run.fail_id = 105;  // inside the second part of `split`
  Job split(100, 10, false), after(200, 2, false);
  CHECK(batcher->submit(split.request()).is_ok());
  CHECK(batcher->submit(after.request()).is_ok());
  run.open();
  CHECK(split.wait() && after.wait());
  batcher->shutdown();
  CHECK(split.call_count() == 1 && split.code() == Code::internal);
  CHECK(after.call_count() == 1 && after.code() == Code::ok && after.rows_correct());
  for (uint32_t id : run.seen) CHECK(id < 108 || id >= 110);  // its third part never ran
  CHECK(batcher->queued_images() == 0);
}

void test_reentrant_callbacks() {
  FakeRun run;
  auto batcher = make_batcher(&run, 4, 0);

  // done() submits a follow-up request from the worker thread.
  Job follow(50, 3, false);
  Job parent(40, 2, false);
  Status follow_submit(Code::internal, "not submitted");
  parent.on_done = [&](Job&) { follow_submit = batcher->submit(follow.request()); };
  CHECK(batcher->submit(parent.request()).is_ok());
  CHECK(parent.wait() && follow.wait());
  CHECK(follow_submit.is_ok());
  CHECK(follow.code() == Code::ok && follow.rows_correct());

  // done() shuts the batcher down: no deadlock, what is queued is disposed.
  auto first = occupy_worker(batcher.get(), &run, 1);
  Job stopper(60, 1, false), queued(70, 2, true);  // separate batches
  stopper.on_done = [&](Job&) { batcher->shutdown(); };
  CHECK(batcher->submit(stopper.request()).is_ok());
  CHECK(batcher->submit(queued.request()).is_ok());
  run.open();
  CHECK(stopper.wait() && queued.wait());
  CHECK(stopper.code() == Code::ok);
  CHECK(queued.code() == Code::disposed);
  batcher->shutdown();
  batcher.reset();

  // done() destroys the batcher (its last owner) on the worker thread.
  auto owned = make_batcher(&run, 4, 0);
  auto first2 = occupy_worker(owned.get(), &run, 2);
  Job killer(80, 1, false), orphan(90, 1, true);
  killer.on_done = [&](Job&) { owned.reset(); };
  CHECK(owned->submit(killer.request()).is_ok());
  CHECK(owned->submit(orphan.request()).is_ok());
  run.open();
  CHECK(killer.wait() && orphan.wait());
  CHECK(killer.code() == Code::ok);
  CHECK(orphan.code() == Code::disposed);
  CHECK(owned == nullptr);
  // The detached worker exits right after its last callback.
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void test_bad_arguments() {
  FakeRun run;
  auto make = [&](BatcherOptions o) {
    std::unique_ptr<Batcher> b;
    return Batcher::create(
               o, [&run](const ImageInput* im, size_t n, bool f, float* out) {
                 return run(im, n, f, out);
               },
               &b)
        .code();
  };
  BatcherOptions good;
  good.max_batch = 4;
  good.row_floats = kRow;
  CHECK(make(good) == Code::ok);
  BatcherOptions o = good;
  o.max_batch = 0;
  CHECK(make(o) == Code::invalid_argument);
  o = good;
  o.row_floats = 0;
  CHECK(make(o) == Code::invalid_argument);
  o = good;
  o.max_queue = 0;
  CHECK(make(o) == Code::invalid_argument);
  o = good;
  o.max_delay_us = -1;
  CHECK(make(o) == Code::invalid_argument);
  std::unique_ptr<Batcher> b;
  CHECK(Batcher::create(good, mfn::RunBatch(), &b).code() == Code::invalid_argument);

  auto batcher = make_batcher(&run, 4, 0);
  Job job(1, 1, false);
  BatchRequest no_done = job.request();
  no_done.done = nullptr;
  CHECK(batcher->submit(std::move(no_done)).code() == Code::invalid_argument);
  BatchRequest no_out = job.request();
  no_out.out = nullptr;
  CHECK(batcher->submit(std::move(no_out)).code() == Code::invalid_argument);
  CHECK(job.call_count() == 0);

  Job empty(1, 0, false);  // no images: completes ok without a run call
  CHECK(batcher->submit(empty.request()).is_ok());
  CHECK(empty.wait() && empty.code() == Code::ok);
  batcher->shutdown();
  CHECK(batcher->stats().batches == 0);
}

}  // namespace

int main() {
  test_concurrent_submitters();
  test_coalescing_exact();
  test_coalescing_by_delay();
  test_delay_flushes_lone_request();
  test_queue_full();
  test_large_request_admitted_beside_small_ones();
  test_cancellation();
  test_shutdown_with_pending();
  test_close_does_not_wait();
  test_split_in_order();
  test_flip_groups();
  test_run_failure();
  test_reentrant_callbacks();
  test_bad_arguments();
  std::printf("batcher_test: %s\n", mfn_test::test_exit_code() == 0 ? "ok" : "FAILED");
  return mfn_test::test_exit_code();
}
