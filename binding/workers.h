// The binding's asynchronous entry points. Engine creation and destruction
// are AsyncWorkers on libuv's pool: Execute() runs on a pool thread, never
// touches N-API and turns every failure into an mfn::Status; OnOK() settles
// the promise on the JS thread. embed goes through the engine's batching
// queue (batch_queue.h) instead: validated here on the JS thread, run by the
// engine's own worker thread in batches with other calls, settled through
// the queue's thread-safe function.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "engine_wrap.h"
#include "mfn/engine.h"

namespace mfn_node {

// Loads the model, picks the backend and starts the engine's batcher off the
// JS thread; resolves with a new EngineWrap object. Of `batching`, only
// max_delay_us and max_queue are read: max_batch and row_floats come from
// the engine.
Napi::Promise queue_create(Napi::Env env, AddonData* addon, mfn::EngineOptions options,
                           mfn::BatcherOptions batching);

// engine.embed(images, flip, out, cancelToken?): validates every image on
// the JS thread (throws typed errors, so that a bad image never reaches a
// shared batch), then submits one request to the batching queue with a copy
// of the pixels (image_args.h); the rows reach `out` when the call settles,
// or it rejects with MFN_INVALID_ARGUMENT if `out` was detached or resized
// meanwhile. Throws MFN_QUEUE_FULL when maxQueue images are waiting. Resolves with undefined; rejects with MFN_ABORTED when the
// token was cancelled before the images were batched.
Napi::Promise queue_embed(const Napi::CallbackInfo& info, EngineWrap* owner);

// Destroys the batcher (joins its worker thread), then the engine (it may
// join threads and free device memory) on the pool, then resolves every
// waiter.
void queue_destroy(Napi::Env env, QueueThreads threads, std::shared_ptr<mfn::Engine> engine,
                   std::vector<Napi::Promise::Deferred> waiters);

}  // namespace mfn_node
