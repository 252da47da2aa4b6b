// EngineWrap: the JavaScript object around one mfn::Engine and its batching
// queue (one worker thread per engine, see batch_queue.h).
//
// Threads: every method here runs on the JavaScript thread of the env that
// created the object. The engine is shared (std::shared_ptr) with the
// batcher's run function and with the pool work that destroys it, so
// dispose() returns at once and the engine goes when the last user lets go.
//
// Lifecycle: dispose() refuses new calls (MFN_DISPOSED) and stops the
// batcher without waiting for it: the batch in flight finishes and its calls
// resolve, every call still queued rejects with MFN_DISPOSED. Once all of
// them are settled the queue closes and the engine is destroyed off the
// JavaScript thread. Environment teardown (a per-engine cleanup hook,
// registered after the queue's thread-safe function so that it runs before
// node frees that function) stops the worker thread instead: the batch in
// flight finishes, queued calls are dropped.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "batch_queue.h"
#include "mfn/engine.h"

namespace mfn_node {

// Per-environment state (napi_set_instance_data), so that the addon can be
// loaded in several worker_threads at once.
struct AddonData {
  Napi::FunctionReference engine_constructor;
  std::string plugin_dir;  // the directory of mfn.node
};

// What createEngine hands to the constructor: a loaded engine, its batcher
// and (with a detector) its face pipeline, their worker threads running.
struct NewEngine {
  std::shared_ptr<mfn::Engine> engine;
  QueueThreads threads;
};

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function define_class(Napi::Env env);

  // Wraps a freshly created engine in a new JavaScript object.
  static Napi::Object wrap(Napi::Env env, AddonData* addon, NewEngine engine);

  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

  // The engine, for validating a call's images; throws MFN_DISPOSED after
  // dispose().
  const mfn::Engine& engine_for_call(Napi::Env env) const;
  // The same, shared: for a call that runs off the queue (detector outputs).
  std::shared_ptr<mfn::Engine> shared_engine(Napi::Env env) const;

  // Hands a validated call to the batching queue (a face call to its face
  // pipeline); throws MFN_QUEUE_FULL (or MFN_DISPOSED) when it is refused,
  // leaving `call` with the caller.
  void submit(Napi::Env env, std::unique_ptr<EmbedCall>& call);
  void submit(Napi::Env env, std::unique_ptr<FaceCall>& call);

 private:
  Napi::Value embed(const Napi::CallbackInfo& info);
  Napi::Value preprocess(const Napi::CallbackInfo& info);
  Napi::Value detect(const Napi::CallbackInfo& info);
  Napi::Value embed_faces(const Napi::CallbackInfo& info);
  Napi::Value detector_input(const Napi::CallbackInfo& info);
  Napi::Value detector_outputs(const Napi::CallbackInfo& info);
  Napi::Value detector_input_size(const Napi::CallbackInfo& info);
  Napi::Value last_timings(const Napi::CallbackInfo& info);
  Napi::Value batch_stats(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value backend(const Napi::CallbackInfo& info);
  Napi::Value fallback_reason(const Napi::CallbackInfo& info);
  Napi::Value detector_backend(const Napi::CallbackInfo& info);
  Napi::Value detector_fallback_reason(const Napi::CallbackInfo& info);
  Napi::Value dimensions(const Napi::CallbackInfo& info);
  Napi::Value input_shape(const Napi::CallbackInfo& info);
  Napi::Value max_batch(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);

  void throw_if_disposed(Napi::Env env) const;
  // Once disposed and every call settled: closes the queue and destroys the engine and
  // the queue's threads on libuv's pool, then resolves the dispose() promise.
  void destroy_if_idle(Napi::Env env);
  // Stops the worker thread and lets go of everything without calling into
  // JavaScript: environment teardown, or a finalizer of an engine that was
  // never disposed.
  void close_now();
  static void teardown_hook(void* self);
  void remove_teardown_hook();

  napi_env env_ = nullptr;
  std::shared_ptr<mfn::Engine> engine_;
  std::unique_ptr<BatchQueue> queue_;
  bool hooked_ = false;  // teardown_hook is registered
  bool disposed_ = false;
  std::vector<Napi::Promise::Deferred> dispose_waiters_;  // settled when the engine is destroyed
  Napi::ObjectReference dispose_promise_;                 // what every dispose() returns

  // Copied at creation so that they stay readable after dispose().
  std::string backend_;
  std::string fallback_reason_;
  std::string detector_backend_;          // "" without a detector
  std::string detector_fallback_reason_;
  int dimensions_ = 0;
  int input_c_ = 0, input_h_ = 0, input_w_ = 0;
  int max_batch_ = 0;
  int detector_input_size_ = 0;  // 0 without a detector
};

}  // namespace mfn_node
