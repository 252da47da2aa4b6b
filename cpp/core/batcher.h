// Dynamic batching: requests from any thread are coalesced into batches of
// up to max_batch images (or whatever has waited max_delay_us), and one
// worker thread per batcher (one per device) hands each batch to the owner's
// run function. No Node and no CUDA here: the binding completes its promises
// from the `done` callbacks, the engine supplies the run function.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "mfn/engine.h"
#include "mfn/status.h"

namespace mfn {

// Runs one batch: images[0..n) -> out[n * row_floats], rows in order; all
// images share `flip`. Called on the worker thread only, one call at a time.
// Must be deterministic per image (a request gets the same rows whatever it
// is batched with). A non-ok Status fails every request in the batch, so
// owners validate images before submit().
using RunBatch = std::function<Status(const ImageInput* images, size_t n, bool flip, float* out)>;

struct BatcherOptions {
  int max_batch = 0;             // images per run call; required, > 0
  int64_t max_delay_us = 1000;   // how long the oldest request waits for company; >= 0
  size_t max_queue = 4096;       // waiting images (not yet in a batch) that refuse new requests; > 0
  size_t row_floats = 0;         // floats per image in `out` (embedding size); required, > 0
};

struct BatchRequest {
  // Pixels (and landmarks) are read in place: the caller keeps them alive
  // until done() runs.
  std::vector<ImageInput> images;
  bool flip = false;
  // images.size() * row_floats floats, row i for images[i]. Written by the
  // worker; meaningful only when done() gets an ok Status.
  float* out = nullptr;
  // Called exactly once, on the worker thread, after the rows are written:
  // ok, the run function's error, Code::aborted (cancelled) or
  // Code::disposed (shutdown). Never called when submit() fails.
  std::function<void(Status)> done;
  // Optional. Set it to cancel: checked each time the request's next images
  // are about to be batched, so a request not yet (fully) run completes with
  // Code::aborted and its remaining images are not run.
  std::shared_ptr<const std::atomic<bool>> cancelled;
  // Work admitted at an earlier stage (an embed-faces call's faces, after
  // its photo's detection): never refused with queue_full, so a call taken
  // in is not dropped half done. The earlier stage's own bound limits it.
  bool admitted = false;
};

struct BatcherStats {
  uint64_t batches = 0;          // run calls
  uint64_t images = 0;           // images passed to run calls
  uint64_t requests = 0;         // requests completed (any Status)
  uint64_t rejected = 0;         // submits refused with Code::queue_full
  int largest_batch = 0;
  double mean_batch() const { return batches == 0 ? 0.0 : double(images) / double(batches); }
};

class Batcher {
 public:
  // Starts the worker thread. invalid_argument for bad options or an empty
  // run function; internal when no thread can be started.
  static Status create(const BatcherOptions& options, RunBatch run, std::unique_ptr<Batcher>* out);

  // Shuts down (see shutdown()). On the worker thread itself (a done()
  // callback dropping the last owner) it does not wait: the worker keeps
  // its own reference to the queue, finishes and exits on its own.
  ~Batcher();

  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Any thread, including from done() or run. Queues the request (moving
  // from it) and returns ok, after which done() will be called exactly once.
  // Otherwise `request` is left untouched, done() is never called and the
  // Status says why:
  //   invalid_argument  no done callback, or images without `out`;
  //   queue_full        max_queue images (or more) are waiting and the
  //                     request is not `admitted`. A request
  //                     is admitted whenever fewer are, whatever its size,
  //                     so at most max_queue - 1 images plus one request's
  //                     wait, and a large request is never starved by
  //                     small ones;
  //   disposed          after shutdown().
  // An empty request completes ok without a run call. A request larger than
  // max_batch is split across consecutive batches, in order. Requests with
  // different `flip` never share a batch; within one flip setting they run
  // first come, first served.
  Status submit(BatchRequest&& request);

  // Any thread; idempotent. Requests not yet run (including the unrun rest
  // of a split request) complete with Code::disposed; a batch in flight
  // finishes and its requests complete normally. From any thread other than
  // the worker, returns once every done() has been called and the worker
  // has exited. From the worker thread (inside done() or run) it only marks
  // the batcher shut: the disposals follow as soon as the current callback
  // returns.
  void shutdown();

  // Any thread; idempotent; never waits. Marks the batcher shut like
  // shutdown() (submit() answers disposed from now on), but leaves the rest
  // to the worker: it finishes the batch in flight, then completes every
  // request not yet run with Code::disposed and exits. For owners that must
  // not block (a JavaScript thread); the destructor joins the worker later.
  void close();

  BatcherStats stats() const;
  size_t queued_images() const;  // images waiting, not yet in a batch
  const BatcherOptions& options() const;

  // The queue shared by the batcher and its worker thread; opaque, defined
  // in batcher.cc.
  struct State;

 private:
  Batcher();
  std::shared_ptr<State> state_;
};

}  // namespace mfn
