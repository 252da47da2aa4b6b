// BatchQueue: the serving path of one engine. Calls from the JavaScript
// thread go into an mfn::Batcher, whose one worker thread coalesces them into
// engine batches; finished calls come back to the JavaScript thread through
// one thread-safe function per engine, which settles their promises a whole
// group at a time.
//
// Threads: everything public here runs on the JavaScript thread of the env
// that owns the engine, except what the class comment of Sink (in the .cc)
// says about the batcher's worker thread.
//
// Keeping the process alive: the thread-safe function is referenced only
// while calls are pending, so an idle engine never holds the event loop open.
//
// Teardown order: node runs cleanup hooks in reverse order of registration,
// and a thread-safe function registers its own hook when it is created,
// which frees it. The owner therefore registers its hook after constructing
// the queue, so that close_for_teardown() (which stops the worker thread,
// the only other user of the function) runs first.
#pragma once

#include <napi.h>

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

// The batcher is the engine's own queue (cpp/core), not yet part of
// include/mfn: reached by path so the addon needs no extra include root.
#include "../cpp/core/batcher.h"
#include "../cpp/core/face_pipeline.h"
#include "image_args.h"
#include "mfn/engine.h"
#include "mfn/status.h"

namespace mfn_node {

// A call on the queue, from submission to settlement. Built on the
// JavaScript thread; while the engine holds it, worker threads write only
// its results and `status`; the JavaScript thread settles the promise and
// deletes the call. Nothing a worker touches belongs to JavaScript, so
// nothing the caller does to its buffers meanwhile can reach it.
struct QueuedCall {
  explicit QueuedCall(Napi::Env env) : deferred(Napi::Promise::Deferred::New(env)) {}
  virtual ~QueuedCall() = default;

  // JavaScript thread: resolves with the results, or rejects with `status`.
  virtual void settle(Napi::Env env) = 0;

  Napi::Promise::Deferred deferred;
  Napi::ObjectReference owner;  // the engine's JavaScript object, kept until the call settles
  std::shared_ptr<const std::atomic<bool>> cancelled;  // optional
  mfn::Status status;  // written by a worker thread before handing the call back
};

// An embed call: the worker thread reads `owned.images` (moved into the
// batch request) and the pixels they point to, and writes `rows`.
struct EmbedCall : QueuedCall {
  using QueuedCall::QueuedCall;
  // Copies the rows into the caller's array, which may have been detached
  // or resized since the call was made (the worker never wrote into it).
  void settle(Napi::Env env) override;

  Napi::ObjectReference out;    // the caller's Float32Array: receives `rows` when the call settles
  OwnedImages owned;            // copies of the pixels and landmarks taken at call time
  std::vector<float> rows;      // images * dimensions floats, written by the worker thread
  bool flip = true;
};

// A detect or embed-faces call (face_calls.cc): the workers read the one
// photo of `owned` (copied at call time) and write `faces` and `embeddings`.
struct FaceCall : QueuedCall {
  using QueuedCall::QueuedCall;
  // Resolves with { boxes, landmarks, keypoints[, embeddings] }.
  void settle(Napi::Env env) override;

  OwnedImages owned;
  mfn::DetectOptions options;
  bool embed = false;
  bool flip = true;
  std::vector<mfn::Face> faces;
  std::vector<float> embeddings;
};

// The threads of a closed queue, for the owner to destroy off the
// JavaScript thread. Members go in reverse order: the face pipeline (which
// submits into the batcher) before the batcher.
struct QueueThreads {
  std::unique_ptr<mfn::Batcher> batcher;
  std::unique_ptr<mfn::FacePipeline> faces;  // null without a detector
};

class BatchQueue {
 public:
  // Called after each group of settled calls with how many are still
  // pending, so that the owner can finish a dispose() once the batch in
  // flight and the disposed calls have been settled.
  using OnSettled = std::function<void(Napi::Env env, size_t pending)>;

  // Takes a running batcher (and face pipeline, or null) and creates the
  // thread-safe function (unref'd). Throws Napi::Error if the function
  // cannot be created.
  BatchQueue(Napi::Env env, QueueThreads threads, OnSettled on_settled);
  // Only after close() or close_for_teardown().
  ~BatchQueue();

  BatchQueue(const BatchQueue&) = delete;
  BatchQueue& operator=(const BatchQueue&) = delete;

  // Hands the call to the batcher. On ok the queue owns it and its promise
  // will settle; otherwise (queue_full, disposed) `call` is left with the
  // caller, untouched.
  mfn::Status submit(Napi::Env env, std::unique_ptr<EmbedCall>& call);
  // The same for a face call, through the face pipeline (model_unsupported
  // without one).
  mfn::Status submit(Napi::Env env, std::unique_ptr<FaceCall>& call);

  size_t pending() const { return pending_; }
  mfn::BatcherStats stats() const;
  mfn::BatcherStats face_stats() const;  // detection passes and photos
  size_t queued_images() const;

  // dispose(): refuses every later submit and has the workers complete each
  // call not yet in a batch with MFN_DISPOSED (delivered like any
  // completion); a batch in flight finishes normally (an embed-faces call
  // whose detection is in flight then finds the embedding queue closed and
  // rejects with MFN_DISPOSED). Never waits.
  void stop();

  // With nothing pending: stops delivering completions, releases the
  // thread-safe function and returns the threads, idle, for the owner to
  // destroy (their destructors join them).
  QueueThreads close();

  // Environment teardown: shuts the face pipeline, then the batcher, down
  // here (batches in flight finish, queued calls are disposed of), drops
  // the calls whose promises can no longer be settled, and releases the
  // thread-safe function.
  void close_for_teardown();

  // Opaque: the state shared with the worker thread, defined in the .cc.
  struct Sink;

 private:
  // Takes ownership of a submitted call and references the function.
  void accepted(Napi::Env env);

  QueueThreads threads_;
  Sink* sink_ = nullptr;  // owned by the thread-safe function, freed by its finalizer
  OnSettled on_settled_;
  size_t pending_ = 0;
  bool referenced_ = false;

  friend struct Sink;
  void settled(Napi::Env env, size_t count);
};

}  // namespace mfn_node
