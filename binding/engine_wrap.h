// EngineWrap: the JavaScript object around one mfn::Engine.
//
// Threads: every method here runs on the JavaScript thread of the env that
// created the object. The engine itself is shared (std::shared_ptr) with the
// workers running on libuv's pool, so dispose() can return at once while
// queued calls finish: the engine is destroyed when the last user lets go.
#pragma once

#include <napi.h>

#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "mfn/engine.h"

namespace mfn_node {

class EngineWrap;

// Per-environment state (napi_set_instance_data), so that the addon can be
// loaded in several worker_threads at once.
struct AddonData {
  Napi::FunctionReference engine_constructor;
  std::string plugin_dir;                    // the directory of mfn.node
  std::unordered_set<EngineWrap*> engines;   // open engines, closed by the env cleanup hook
};

class EngineWrap : public Napi::ObjectWrap<EngineWrap> {
 public:
  static Napi::Function define_class(Napi::Env env);

  // Wraps a freshly created engine in a new JavaScript object (JS thread).
  static Napi::Object wrap(Napi::Env env, AddonData* addon, std::unique_ptr<mfn::Engine> engine);

  explicit EngineWrap(const Napi::CallbackInfo& info);
  ~EngineWrap() override;

  // A unit of queued work takes a share of the engine (throws MFN_DISPOSED
  // after dispose); finish_work gives it back once the work has completed
  // and runs a dispose() that was waiting for it.
  std::shared_ptr<mfn::Engine> begin_work(Napi::Env env);
  void finish_work(Napi::Env env);

  // Environment teardown (cleanup hook): let go of the engine without
  // calling into JavaScript.
  void close_for_teardown();

 private:
  Napi::Value embed(const Napi::CallbackInfo& info);
  Napi::Value preprocess(const Napi::CallbackInfo& info);
  Napi::Value last_timings(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value backend(const Napi::CallbackInfo& info);
  Napi::Value fallback_reason(const Napi::CallbackInfo& info);
  Napi::Value dimensions(const Napi::CallbackInfo& info);
  Napi::Value input_shape(const Napi::CallbackInfo& info);
  Napi::Value max_batch(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);

  void throw_if_disposed(Napi::Env env) const;
  // Destroys the engine off the JS thread once disposed and idle.
  void destroy_if_idle(Napi::Env env);

  AddonData* addon_ = nullptr;
  std::shared_ptr<mfn::Engine> engine_;
  bool disposed_ = false;
  int pending_ = 0;  // queued works holding a share of engine_
  std::vector<Napi::Promise::Deferred> dispose_waiters_;  // settled when the engine is destroyed
  Napi::ObjectReference dispose_promise_;                 // what every dispose() returns

  // Copied at creation so that they stay readable after dispose().
  std::string backend_;
  std::string fallback_reason_;
  int dimensions_ = 0;
  int input_c_ = 0, input_h_ = 0, input_w_ = 0;
  int max_batch_ = 0;
};

}  // namespace mfn_node
