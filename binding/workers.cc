#include "workers.h"

#include <exception>
#include <new>
#include <string>
#include <utility>

#include "cancel_token.h"
#include "image_args.h"
#include "napi_util.h"

namespace mfn_node {

namespace {

mfn::Status internal_error(const char* what) {
  return mfn::Status(mfn::Code::internal, std::string("unexpected engine failure: ") + what);
}

// Completion callbacks also run while an environment shuts down (a
// worker_thread terminated with work in flight): no JavaScript may run then,
// so settling a promise fails and node-addon-api throws. An exception that
// escaped into node would abort the process, and nobody is waiting for the
// promise any more, so the failure is dropped here.
template <typename Settle>
void settle_quietly(Settle&& settle) {
  try {
    settle();
  } catch (const Napi::Error&) {
  }
}

class CreateWorker : public Napi::AsyncWorker {
 public:
  CreateWorker(Napi::Env env, AddonData* addon, mfn::EngineOptions options, mfn::BatcherOptions batching)
      : Napi::AsyncWorker(env, "mfn:create"),
        deferred_(Napi::Promise::Deferred::New(env)),
        addon_(addon),
        options_(std::move(options)),
        batching_(batching) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  // Pool thread.
  void Execute() override {
    try {
      std::unique_ptr<mfn::Engine> engine;
      status_ = mfn::Engine::create(options_, &engine);
      if (!status_.is_ok()) return;
      if (!engine) {
        status_ = internal_error("the engine reported success but returned no engine");
        return;
      }
      created_.engine = std::move(engine);
      batching_.max_batch = created_.engine->max_batch();
      batching_.row_floats = static_cast<size_t>(created_.engine->dimensions());
      // The batcher's worker thread is the only caller of embed().
      std::shared_ptr<mfn::Engine> shared = created_.engine;
      status_ = mfn::Batcher::create(
          batching_,
          [shared](const mfn::ImageInput* images, size_t n, bool flip, float* out) {
            return shared->embed(images, n, flip, out);
          },
          &created_.threads.batcher);
      // Face calls: photos batched for the detector under the same delay
      // and queue bound, their faces embedded through the batcher above.
      if (status_.is_ok() && shared->has_detector()) {
        status_ = mfn::FacePipeline::create(shared, created_.threads.batcher.get(), batching_, &created_.threads.faces);
      }
    } catch (const std::exception& e) {
      status_ = internal_error(e.what());
    } catch (...) {
      status_ = internal_error("unknown exception");
    }
  }

  // JS thread.
  void OnOK() override {
    Napi::Env env = Env();
    settle_quietly([&] {
      if (!status_.is_ok()) {
        deferred_.Reject(status_error(env, status_).Value());
        return;
      }
      try {
        deferred_.Resolve(EngineWrap::wrap(env, addon_, std::move(created_)));
      } catch (const Napi::Error& error) {
        deferred_.Reject(error.Value());
      }
    });
  }

 private:
  Napi::Promise::Deferred deferred_;
  AddonData* addon_;
  mfn::EngineOptions options_;
  mfn::BatcherOptions batching_;
  NewEngine created_;
  mfn::Status status_;
};

class DestroyWorker : public Napi::AsyncWorker {
 public:
  DestroyWorker(Napi::Env env, QueueThreads threads, std::shared_ptr<mfn::Engine> engine,
                std::vector<Napi::Promise::Deferred> waiters)
      : Napi::AsyncWorker(env, "mfn:dispose"),
        threads_(std::move(threads)),
        engine_(std::move(engine)),
        waiters_(std::move(waiters)) {}

  // Pool thread. The face pipeline (which submits into the batcher), then
  // the batcher, then the engine both share.
  void Execute() override {
    threads_.faces.reset();
    threads_.batcher.reset();
    engine_.reset();
  }

  // JS thread.
  void OnOK() override {
    for (Napi::Promise::Deferred& waiter : waiters_) settle_quietly([&] { waiter.Resolve(Env().Undefined()); });
  }

 private:
  QueueThreads threads_;
  std::shared_ptr<mfn::Engine> engine_;
  std::vector<Napi::Promise::Deferred> waiters_;
};

std::string image_name(size_t i) { return "images[" + std::to_string(i) + "]"; }

}  // namespace

Napi::Promise queue_create(Napi::Env env, AddonData* addon, mfn::EngineOptions options,
                           mfn::BatcherOptions batching) {
  auto* worker = new CreateWorker(env, addon, std::move(options), batching);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

namespace {

Napi::Promise submit_embed(const Napi::CallbackInfo& info, EngineWrap* owner) {
  Napi::Env env = info.Env();
  // Step 1 (image_args.h): every read that can run the caller's JavaScript.
  if (!info[0].IsArray()) throw_invalid(env, "images", "an array of images", info[0]);
  Napi::Array list = info[0].As<Napi::Array>();
  uint32_t n = list.Length();
  std::vector<ImageValues> values;
  for (uint32_t i = 0; i < n; ++i) values.push_back(read_image(env, list.Get(i), image_name(i)));
  bool flip = get_bool(env, info[1], "flip");
  Napi::Value out = info[2];
  std::shared_ptr<const std::atomic<bool>> cancelled;
  if (info.Length() > 3 && !info[3].IsUndefined()) cancelled = CancelToken::flag_of(env, info[3], "cancelToken");

  // Step 2: no JavaScript runs from here to the submit, so the engine
  // checked here is the one the call is queued on.
  const mfn::Engine& engine = owner->engine_for_call(env);
  size_t dims = static_cast<size_t>(engine.dimensions());
  size_t out_length = get_float32_array(env, out, "out").ElementLength();
  if (out_length != n * dims) {
    throw make_error(env, "MFN_INVALID_ARGUMENT",
                     "Expected a Float32Array of " + std::to_string(n * dims) + " values for out but received " +
                         std::to_string(out_length));
  }

  // Every image is checked here, before anything is queued: a bad image
  // fails its own call at once and never a batch shared with other calls.
  OwnedImages owned = own_images(env, values, image_name);
  for (uint32_t i = 0; i < n; ++i) {
    mfn::Status status = engine.validate(owned.images[i]);
    if (!status.is_ok()) {
      throw make_error(env, mfn::code_name(status.code()),
                       n == 1 ? status.message() : image_name(i) + ": " + status.message());
    }
  }

  auto call = std::make_unique<EmbedCall>(env);
  Napi::Promise promise = call->deferred.Promise();
  if (n == 0) {
    call->deferred.Resolve(env.Undefined());
    return promise;
  }
  call->owned = std::move(owned);  // moves keep the pixel and landmark pointers valid
  call->rows.resize(n * dims);
  call->flip = flip;
  call->cancelled = std::move(cancelled);
  call->out = Napi::Persistent(out.As<Napi::Object>());
  call->owner = Napi::Persistent(owner->Value());
  try {
    owner->submit(env, call);
  } catch (...) {
    // Refused (queue full, disposed): settle the promise nobody will see,
    // so that its handle is freed, and throw the reason.
    settle_quietly([&] { call->deferred.Resolve(env.Undefined()); });
    throw;
  }
  return promise;
}

}  // namespace

Napi::Promise queue_embed(const Napi::CallbackInfo& info, EngineWrap* owner) {
  // An exception other than Napi::Error escaping into node would end the
  // process: a call too large for memory is the caller's error.
  try {
    return submit_embed(info, owner);
  } catch (const std::bad_alloc&) {
    throw make_error(info.Env(), "MFN_OUT_OF_MEMORY", "out of memory taking the call's images");
  }
}

void queue_destroy(Napi::Env env, QueueThreads threads, std::shared_ptr<mfn::Engine> engine,
                   std::vector<Napi::Promise::Deferred> waiters) {
  auto* worker = new DestroyWorker(env, std::move(threads), std::move(engine), std::move(waiters));
  worker->Queue();
}

}  // namespace mfn_node
