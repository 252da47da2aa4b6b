#include "batch_queue.h"

#include <cstring>
#include <mutex>
#include <string>
#include <utility>

#include "napi_util.h"

namespace mfn_node {

// What the worker threads (the batcher's and the face pipeline's) and the
// JavaScript thread share: finished calls waiting to be settled, and the
// thread-safe function that wakes the JavaScript thread. Worker threads only
// call finish(); everything else
// runs on the JavaScript thread. Owned by the thread-safe function (freed by
// its finalizer), so a delivery still queued inside node after the queue
// has closed finds it alive.
struct BatchQueue::Sink {
  std::mutex mu;
  std::vector<QueuedCall*> ready;  // finished, not yet settled
  bool posted = false;             // a delivery is queued and will take `ready`
  bool closed = false;             // the function is released: post nothing more
  napi_threadsafe_function function = nullptr;
  BatchQueue* queue = nullptr;     // JavaScript thread only; null once closed

  // A worker thread, from a request's done(). Posts at most one delivery at a
  // time: a delivery takes every call finished by then, so a batch of 256
  // single-image calls costs one wake-up of the JavaScript thread, not 256.
  // The post happens under the mutex so that close() (which sets `closed`
  // under it before releasing the function) can never release it between
  // the check and the call.
  void finish(QueuedCall* call, mfn::Status status) {
    // Not yet run when the engine was disposed (stop()): say so in the
    // words of the public API rather than the batcher's.
    if (status.code() == mfn::Code::disposed) {
      status = mfn::Status(mfn::Code::disposed, "This embedder was disposed before the call ran");
    }
    call->status = std::move(status);
    std::lock_guard<std::mutex> lock(mu);
    ready.push_back(call);
    if (posted || closed) return;
    // Fails only while node tears the function down, after which close
    // paths collect `ready` themselves; a later finish() retries.
    posted = napi_call_threadsafe_function(function, nullptr, napi_tsfn_nonblocking) == napi_ok;
  }

  // JavaScript thread (node's call_js). env is null when node empties the
  // function's queue during teardown: close_for_teardown() has already
  // collected every call by then.
  static void deliver(napi_env raw_env, napi_value, void* context, void*) {
    if (raw_env == nullptr) return;
    Sink* sink = static_cast<Sink*>(context);
    std::vector<QueuedCall*> calls;
    {
      std::lock_guard<std::mutex> lock(sink->mu);
      calls.swap(sink->ready);
      sink->posted = false;
    }
    if (calls.empty()) return;
    Napi::Env env(raw_env);
    for (QueuedCall* call : calls) {
      // Settling fails only while the environment shuts down, when nobody
      // waits for the promise any more.
      try {
        Napi::HandleScope scope(env);
        call->settle(env);
      } catch (const Napi::Error&) {
      }
    }
    if (sink->queue != nullptr) sink->queue->settled(env, calls.size());
    // Last: this lets go of the references to `out` and to the engine's object.
    for (QueuedCall* call : calls) delete call;
  }

  // JavaScript thread, when node frees the function (after its release, or
  // at environment teardown).
  static void finalize(napi_env, void* data, void*) { delete static_cast<Sink*>(data); }
};

// JavaScript thread.
void EmbedCall::settle(Napi::Env env) {
  if (!status.is_ok()) {
    deferred.Reject(status_error(env, status).Value());
    return;
  }
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_status got = napi_get_typedarray_info(env, out.Value(), &type, &length, &data, nullptr, nullptr);
  if (got != napi_ok || type != napi_float32_array || data == nullptr || length != rows.size()) {
    deferred.Reject(make_error(env, "MFN_INVALID_ARGUMENT",
                               "out was detached or resized before the call settled: its rows were dropped")
                        .Value());
    return;
  }
  if (!rows.empty()) std::memcpy(data, rows.data(), rows.size() * sizeof(float));
  deferred.Resolve(env.Undefined());
}

BatchQueue::BatchQueue(Napi::Env env, QueueThreads threads, OnSettled on_settled)
    : threads_(std::move(threads)), on_settled_(std::move(on_settled)) {
  auto sink = std::make_unique<Sink>();
  sink->queue = this;
  napi_value name = Napi::String::New(env, "mfn:embed");
  // Unlimited queue (max_queue_size 0): posts never block the worker, and
  // there is at most one outstanding post anyway. One thread: the worker.
  napi_status status = napi_create_threadsafe_function(env, nullptr, nullptr, name, 0, 1, sink.get(),
                                                       &Sink::finalize, sink.get(), &Sink::deliver,
                                                       &sink->function);
  if (status != napi_ok) {
    if (threads_.faces) threads_.faces->shutdown();
    threads_.batcher->shutdown();
    throw make_error(env, "MFN_INTERNAL", "could not create the completion channel of the batching queue");
  }
  // Idle until the first submit.
  napi_unref_threadsafe_function(env, sink->function);
  sink_ = sink.release();
}

BatchQueue::~BatchQueue() = default;

mfn::Status BatchQueue::submit(Napi::Env env, std::unique_ptr<EmbedCall>& call) {
  if (!threads_.batcher) return mfn::Status(mfn::Code::disposed, "the batching queue is closed");
  EmbedCall* raw = call.get();
  Sink* sink = sink_;
  mfn::BatchRequest request;
  request.images = std::move(call->owned.images);
  request.flip = call->flip;
  request.out = call->rows.data();
  request.cancelled = call->cancelled;
  request.done = [sink, raw](mfn::Status status) { sink->finish(raw, std::move(status)); };
  mfn::Status status = threads_.batcher->submit(std::move(request));
  if (!status.is_ok()) {
    call->owned.images = std::move(request.images);  // left untouched by a refused submit
    return status;
  }
  call.release();
  accepted(env);
  return status;
}

mfn::Status BatchQueue::submit(Napi::Env env, std::unique_ptr<FaceCall>& call) {
  if (!threads_.batcher) return mfn::Status(mfn::Code::disposed, "the batching queue is closed");
  if (!threads_.faces) return mfn::Status(mfn::Code::model_unsupported, "this engine was created without a face detector");
  FaceCall* raw = call.get();
  Sink* sink = sink_;
  mfn::FaceRequest request;
  request.image = call->owned.images.at(0);
  request.options = call->options;
  request.embed = call->embed;
  request.flip = call->flip;
  request.faces = &call->faces;
  request.embeddings = &call->embeddings;
  request.cancelled = call->cancelled;
  request.done = [sink, raw](mfn::Status status) { sink->finish(raw, std::move(status)); };
  mfn::Status status = threads_.faces->submit(std::move(request));
  if (!status.is_ok()) return status;
  call.release();
  accepted(env);
  return status;
}

void BatchQueue::accepted(Napi::Env env) {
  if (pending_++ == 0 && !referenced_) {
    napi_ref_threadsafe_function(env, sink_->function);
    referenced_ = true;
  }
}

void BatchQueue::settled(Napi::Env env, size_t count) {
  pending_ -= count < pending_ ? count : pending_;
  if (pending_ == 0 && referenced_) {
    napi_unref_threadsafe_function(env, sink_->function);
    referenced_ = false;
  }
  // The owner may close and destroy this queue from the callback (a
  // dispose() that was waiting for these calls): call a copy, touch nothing
  // afterwards.
  if (!on_settled_) return;
  OnSettled notify = on_settled_;
  notify(env, pending_);
}

mfn::BatcherStats BatchQueue::stats() const {
  return threads_.batcher ? threads_.batcher->stats() : mfn::BatcherStats{};
}

mfn::BatcherStats BatchQueue::face_stats() const {
  return threads_.faces ? threads_.faces->stats() : mfn::BatcherStats{};
}

size_t BatchQueue::queued_images() const {
  return (threads_.batcher ? threads_.batcher->queued_images() : 0) +
         (threads_.faces ? threads_.faces->queued_images() : 0);
}

void BatchQueue::stop() {
  if (threads_.faces) threads_.faces->close();
  if (threads_.batcher) threads_.batcher->close();
}

QueueThreads BatchQueue::close() {
  if (sink_ == nullptr) return std::move(threads_);
  {
    std::lock_guard<std::mutex> lock(sink_->mu);
    sink_->closed = true;
  }
  sink_->queue = nullptr;
  napi_release_threadsafe_function(sink_->function, napi_tsfn_release);
  sink_ = nullptr;
  return std::move(threads_);
}

void BatchQueue::close_for_teardown() {
  // Joins the worker threads, the face pipeline's first (its callbacks
  // submit into the batcher): afterwards every done() has run and nothing
  // touches the sink from another thread.
  if (threads_.faces) threads_.faces->shutdown();
  if (threads_.batcher) threads_.batcher->shutdown();
  if (sink_ == nullptr) return;
  std::vector<QueuedCall*> dropped;
  {
    std::lock_guard<std::mutex> lock(sink_->mu);
    sink_->closed = true;
    dropped.swap(sink_->ready);
  }
  sink_->queue = nullptr;
  // No JavaScript runs any more: the promises stay unsettled, the
  // references are freed.
  for (QueuedCall* call : dropped) delete call;
  pending_ = 0;
  napi_release_threadsafe_function(sink_->function, napi_tsfn_release);
  sink_ = nullptr;
  threads_.faces.reset();
  threads_.batcher.reset();
}

}  // namespace mfn_node
