// The asynchronous work of the binding, each an AsyncWorker on libuv's pool:
// Execute() runs on a pool thread, never touches N-API and turns every
// failure into an mfn::Status; OnOK() settles the promise on the JS thread.
//
// embed is kept to this one entry point so that the per-call worker can be
// replaced by the batching queue (cpp/core/batcher) without touching the rest
// of the binding.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "engine_wrap.h"
#include "mfn/engine.h"

namespace mfn_node {

// Loads the model and picks the backend off the JS thread; resolves with a
// new EngineWrap object.
Napi::Promise queue_create(Napi::Env env, AddonData* addon, mfn::EngineOptions options);

// engine.embed(images, flip, out): validates on the JS thread (throws typed
// errors), then embeds on the pool reading the pixels in place and writing
// into `out`. Resolves with undefined.
Napi::Promise queue_embed(const Napi::CallbackInfo& info, EngineWrap* owner);

// Destroys the engine on the pool (it may join threads and free device
// memory), then resolves every waiter.
void queue_destroy(Napi::Env env, std::shared_ptr<mfn::Engine> engine,
                   std::vector<Napi::Promise::Deferred> waiters);

}  // namespace mfn_node
