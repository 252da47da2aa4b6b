// The batching queue. Threads: submit() and shutdown() run on any thread;
// everything else (batch forming, run calls, done callbacks) runs on the one
// worker thread. The mutex guards the queues, counters and the stop flag; it
// is never held while run or done executes, so both may call back into the
// batcher.
#include "core/batcher.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <utility>

namespace mfn {

namespace {

using Clock = std::chrono::steady_clock;

// Longest max_delay_us accepted: a serving queue has no use for more, and it
// keeps deadline arithmetic far from overflow.
constexpr int64_t kMaxDelayUs = 10'000'000;

struct Entry {
  BatchRequest request;
  uint64_t seq = 0;           // submission order, across both flip groups
  Clock::time_point enqueued;
  size_t taken = 0;           // images already put into a batch (under the mutex)
};

// A contiguous run of one request's images inside a batch.
struct Part {
  std::shared_ptr<Entry> entry;
  size_t begin = 0;
  size_t count = 0;
};

struct Completion {
  std::shared_ptr<Entry> entry;
  Status status;
};

}  // namespace

struct Batcher::State {
  BatcherOptions options;
  RunBatch run;

  mutable std::mutex mu;
  std::condition_variable wake;
  std::deque<std::shared_ptr<Entry>> queue[2];  // indexed by flip
  size_t waiting[2] = {0, 0};                   // images not yet taken, per queue
  bool stopping = false;
  uint64_t next_seq = 0;
  BatcherStats stats;

  // Set once by create() before the batcher is shared; joined (or, from the
  // worker itself, detached) under join_mu.
  std::thread worker;
  std::thread::id worker_id;
  std::mutex join_mu;
};

namespace {

// Worker thread. Done callbacks may throw only at their owner's peril; an
// exception is dropped here rather than ending the process.
void complete(std::vector<Completion>* completions) {
  for (Completion& c : *completions) {
    try {
      c.entry->request.done(std::move(c.status));
    } catch (...) {
    }
  }
  completions->clear();
}

// Worker thread: the whole life of the batcher after create().
void worker_loop(const std::shared_ptr<Batcher::State>& state);

}  // namespace

Batcher::Batcher() = default;

Status Batcher::create(const BatcherOptions& options, RunBatch run, std::unique_ptr<Batcher>* out) {
  if (out == nullptr) return Status(Code::invalid_argument, "batcher output is null");
  if (!run) return Status(Code::invalid_argument, "batcher needs a run function");
  if (options.max_batch <= 0) return Status(Code::invalid_argument, "max_batch must be > 0");
  if (options.max_delay_us < 0 || options.max_delay_us > kMaxDelayUs) {
    return Status(Code::invalid_argument,
                  "max_delay_us must be in [0, " + std::to_string(kMaxDelayUs) + "]");
  }
  if (options.max_queue == 0) return Status(Code::invalid_argument, "max_queue must be > 0");
  if (options.row_floats == 0) return Status(Code::invalid_argument, "row_floats must be > 0");

  auto state = std::make_shared<State>();
  state->options = options;
  state->run = std::move(run);
  try {
    state->worker = std::thread(worker_loop, state);
  } catch (const std::system_error& e) {
    return Status(Code::internal, std::string("cannot start the batching thread: ") + e.what());
  }
  state->worker_id = state->worker.get_id();
  std::unique_ptr<Batcher> batcher(new Batcher());
  batcher->state_ = std::move(state);
  *out = std::move(batcher);
  return Status::ok();
}

Batcher::~Batcher() {
  shutdown();
  // On the worker thread shutdown() could not join; the worker holds its own
  // reference to the state and exits by itself once it has drained.
  std::lock_guard<std::mutex> join_lock(state_->join_mu);
  if (state_->worker.joinable()) state_->worker.detach();
}

Status Batcher::submit(BatchRequest&& request) {
  if (!request.done) return Status(Code::invalid_argument, "request has no done callback");
  const size_t n = request.images.size();
  if (n > 0 && request.out == nullptr) {
    return Status(Code::invalid_argument, "request has images but no output buffer");
  }
  State& s = *state_;
  auto entry = std::make_shared<Entry>();
  {
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.stopping) return Status(Code::disposed, "the batcher is shut down");
    // Admitted while fewer than max_queue images wait, whatever its size:
    // a large request competes for room like a small one, so steady small
    // requests cannot starve it (they would if it had to fit beside them).
    const size_t waiting = s.waiting[0] + s.waiting[1];
    if (waiting >= s.options.max_queue && !request.admitted) {
      ++s.stats.rejected;
      return Status(Code::queue_full, "batching queue full (" + std::to_string(waiting) +
                                          " images waiting, max_queue " +
                                          std::to_string(s.options.max_queue) + ")");
    }
    const int group = request.flip ? 1 : 0;
    entry->request = std::move(request);
    entry->seq = s.next_seq++;
    entry->enqueued = Clock::now();
    s.waiting[group] += n;
    s.queue[group].push_back(std::move(entry));
  }
  s.wake.notify_one();
  return Status::ok();
}

void Batcher::close() {
  State& s = *state_;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    s.stopping = true;
  }
  s.wake.notify_all();
}

void Batcher::shutdown() {
  close();
  State& s = *state_;
  if (std::this_thread::get_id() == s.worker_id) return;
  std::lock_guard<std::mutex> join_lock(s.join_mu);
  if (s.worker.joinable()) s.worker.join();
}

BatcherStats Batcher::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

size_t Batcher::queued_images() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->waiting[0] + state_->waiting[1];
}

const BatcherOptions& Batcher::options() const { return state_->options; }

namespace {

// Under the mutex: the queue whose front should run now (-1 if none), else
// the time the earliest front's delay runs out. A queue is ready when it
// holds a full batch or its front has waited max_delay_us; between ready
// queues the older front goes first.
int pick_queue(const Batcher::State& s, Clock::time_point now, Clock::time_point* wake_at) {
  const auto delay = std::chrono::microseconds(s.options.max_delay_us);
  const size_t full = static_cast<size_t>(s.options.max_batch);
  int pick = -1;
  *wake_at = Clock::time_point::max();
  for (int g = 0; g < 2; ++g) {
    if (s.queue[g].empty()) continue;
    const Entry& front = *s.queue[g].front();
    const Clock::time_point deadline = front.enqueued + delay;
    if (s.waiting[g] >= full || now >= deadline) {
      if (pick < 0 || front.seq < s.queue[pick].front()->seq) pick = g;
    } else {
      *wake_at = std::min(*wake_at, deadline);
    }
  }
  return pick;
}

// Under the mutex: takes up to max_batch images from the front of queue g.
// Cancelled and empty requests leave the queue as completions; only the last
// part can be a partial request, which then stays at the queue's front.
void form_batch(Batcher::State& s, int g, std::vector<Part>* parts,
                std::vector<ImageInput>* images, std::vector<Completion>* completions) {
  const size_t max_batch = static_cast<size_t>(s.options.max_batch);
  auto& queue = s.queue[g];
  while (images->size() < max_batch && !queue.empty()) {
    std::shared_ptr<Entry> entry = queue.front();
    const BatchRequest& request = entry->request;
    const size_t remaining = request.images.size() - entry->taken;
    if (request.cancelled && request.cancelled->load()) {
      s.waiting[g] -= remaining;
      queue.pop_front();
      completions->push_back({std::move(entry), Status(Code::aborted, "request cancelled")});
      continue;
    }
    if (remaining == 0) {  // an empty request
      queue.pop_front();
      completions->push_back({std::move(entry), Status::ok()});
      continue;
    }
    const size_t take = std::min(remaining, max_batch - images->size());
    images->insert(images->end(), request.images.begin() + entry->taken,
                   request.images.begin() + entry->taken + take);
    parts->push_back({entry, entry->taken, take});
    entry->taken += take;
    s.waiting[g] -= take;
    if (entry->taken == request.images.size()) queue.pop_front();
  }
}

// Worker thread, no lock: runs the batch and copies each part's rows into
// its request. A single part is run straight into the request's buffer.
Status run_batch(Batcher::State& s, bool flip, const std::vector<Part>& parts,
                 const std::vector<ImageInput>& images, std::vector<float>* staging) {
  const size_t row = s.options.row_floats;
  try {
    if (parts.size() == 1) {
      const Part& p = parts[0];
      return s.run(images.data(), images.size(), flip, p.entry->request.out + p.begin * row);
    }
    staging->resize(images.size() * row);
    Status status = s.run(images.data(), images.size(), flip, staging->data());
    if (!status.is_ok()) return status;
    size_t offset = 0;
    for (const Part& p : parts) {
      std::memcpy(p.entry->request.out + p.begin * row, staging->data() + offset * row,
                  p.count * row * sizeof(float));
      offset += p.count;
    }
    return Status::ok();
  } catch (const std::bad_alloc&) {
    return Status(Code::out_of_memory, "out of memory running a batch");
  } catch (...) {
    return Status(Code::internal, "the batch run function threw");
  }
}

void worker_loop(const std::shared_ptr<Batcher::State>& state) {
  Batcher::State& s = *state;
  std::vector<Part> parts;
  std::vector<ImageInput> images;
  std::vector<float> staging;
  std::vector<Completion> completions;

  std::unique_lock<std::mutex> lock(s.mu);
  while (!s.stopping) {
    Clock::time_point wake_at;
    const int g = pick_queue(s, Clock::now(), &wake_at);
    if (g < 0) {
      if (wake_at == Clock::time_point::max()) {
        s.wake.wait(lock);
      } else {
        s.wake.wait_until(lock, wake_at);
      }
      continue;
    }
    form_batch(s, g, &parts, &images, &completions);
    lock.unlock();

    Status status;
    if (!images.empty()) status = run_batch(s, g == 1, parts, images, &staging);

    lock.lock();
    if (!images.empty()) {
      ++s.stats.batches;
      s.stats.images += images.size();
      s.stats.largest_batch = std::max(s.stats.largest_batch, static_cast<int>(images.size()));
    }
    for (Part& p : parts) {
      Entry& e = *p.entry;
      const bool last = p.begin + p.count == e.request.images.size();
      if (!status.is_ok() && !last) {
        // A split request whose part failed: drop its unrun rest, which is
        // still at the front of its queue.
        s.waiting[g] -= e.request.images.size() - e.taken;
        s.queue[g].pop_front();
      }
      if (last || !status.is_ok()) completions.push_back({std::move(p.entry), status});
    }
    s.stats.requests += completions.size();
    lock.unlock();

    parts.clear();
    images.clear();
    complete(&completions);
    lock.lock();
  }

  // Shut down: whatever has not run is disposed of, oldest first.
  for (auto& queue : s.queue) {
    for (auto& entry : queue) {
      completions.push_back({std::move(entry), Status(Code::disposed, "the batcher was shut down")});
    }
    queue.clear();
  }
  std::sort(completions.begin(), completions.end(),
            [](const Completion& a, const Completion& b) { return a.entry->seq < b.entry->seq; });
  s.waiting[0] = s.waiting[1] = 0;
  s.stats.requests += completions.size();
  lock.unlock();
  complete(&completions);
}

}  // namespace

}  // namespace mfn
