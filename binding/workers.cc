#include "workers.h"

#include <exception>
#include <string>
#include <utility>

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
  CreateWorker(Napi::Env env, AddonData* addon, mfn::EngineOptions options)
      : Napi::AsyncWorker(env, "mfn:create"),
        deferred_(Napi::Promise::Deferred::New(env)),
        addon_(addon),
        options_(std::move(options)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  // Pool thread.
  void Execute() override {
    try {
      status_ = mfn::Engine::create(options_, &engine_);
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
      } else if (!engine_) {
        deferred_.Reject(make_error(env, "MFN_INTERNAL", "the engine reported success but returned no engine").Value());
      } else {
        deferred_.Resolve(EngineWrap::wrap(env, addon_, std::move(engine_)));
      }
    });
  }

 private:
  Napi::Promise::Deferred deferred_;
  AddonData* addon_;
  mfn::EngineOptions options_;
  std::unique_ptr<mfn::Engine> engine_;
  mfn::Status status_;
};

class EmbedWorker : public Napi::AsyncWorker {
 public:
  EmbedWorker(Napi::Env env, EngineWrap* owner, std::shared_ptr<mfn::Engine> engine)
      : Napi::AsyncWorker(env, "mfn:embed"),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(owner),
        owner_ref_(Napi::Persistent(owner->Value())),
        engine_(std::move(engine)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  // Filled on the JS thread before Queue(); `keep_alive` holds every typed
  // array the pointers in `images` and `out` refer to.
  std::vector<mfn::ImageInput> images;
  std::vector<float> landmarks;
  bool flip = true;
  float* out = nullptr;
  Napi::ObjectReference keep_alive;

  // Pool thread: only the engine and the memory pinned by keep_alive.
  void Execute() override {
    try {
      status_ = engine_->embed(images.data(), images.size(), flip, out);
    } catch (const std::exception& e) {
      status_ = internal_error(e.what());
    } catch (...) {
      status_ = internal_error("unknown exception");
    }
  }

  // JS thread.
  void OnOK() override {
    Napi::Env env = Env();
    engine_.reset();  // before finish_work, so a waiting dispose destroys the engine
    settle_quietly([&] {
      owner_->finish_work(env);
      if (status_.is_ok()) {
        deferred_.Resolve(env.Undefined());
      } else {
        deferred_.Reject(status_error(env, status_).Value());
      }
    });
  }

 private:
  Napi::Promise::Deferred deferred_;
  EngineWrap* owner_;
  Napi::ObjectReference owner_ref_;  // keeps owner_ alive until OnOK
  std::shared_ptr<mfn::Engine> engine_;
  mfn::Status status_;
};

class DestroyWorker : public Napi::AsyncWorker {
 public:
  DestroyWorker(Napi::Env env, std::shared_ptr<mfn::Engine> engine, std::vector<Napi::Promise::Deferred> waiters)
      : Napi::AsyncWorker(env, "mfn:dispose"), engine_(std::move(engine)), waiters_(std::move(waiters)) {}

  // Pool thread.
  void Execute() override { engine_.reset(); }

  // JS thread.
  void OnOK() override {
    for (Napi::Promise::Deferred& waiter : waiters_) settle_quietly([&] { waiter.Resolve(Env().Undefined()); });
  }

 private:
  std::shared_ptr<mfn::Engine> engine_;
  std::vector<Napi::Promise::Deferred> waiters_;
};

}  // namespace

Napi::Promise queue_create(Napi::Env env, AddonData* addon, mfn::EngineOptions options) {
  auto* worker = new CreateWorker(env, addon, std::move(options));
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

Napi::Promise queue_embed(const Napi::CallbackInfo& info, EngineWrap* owner) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) throw_invalid(env, "images", "an array of images", info[0]);
  Napi::Array list = info[0].As<Napi::Array>();
  bool flip = get_bool(env, info[1], "flip");
  Napi::Float32Array out = get_float32_array(env, info[2], "out");

  std::shared_ptr<mfn::Engine> engine = owner->begin_work(env);
  uint32_t n = list.Length();
  size_t dims = static_cast<size_t>(engine->dimensions());
  if (out.ElementLength() != n * dims) {
    owner->finish_work(env);
    throw make_error(env, "MFN_INVALID_ARGUMENT",
                     "Expected a Float32Array of " + std::to_string(n * dims) + " values for out but received " +
                         std::to_string(out.ElementLength()));
  }

  // From here on the worker owns the share of the engine: if parsing throws,
  // deleting the worker would skip finish_work, so parse before creating it.
  std::vector<mfn::ImageInput> images(n);
  std::vector<float> landmarks(static_cast<size_t>(n) * 10);
  Napi::Array pinned;
  try {
    pinned = Napi::Array::New(env, n + 1);
    for (uint32_t i = 0; i < n; ++i) {
      Napi::Value pixels;
      images[i] = parse_image(env, list.Get(i), "images[" + std::to_string(i) + "]", &landmarks[i * 10], &pixels);
      pinned.Set(i, pixels);
    }
    pinned.Set(n, out);
  } catch (...) {
    owner->finish_work(env);
    throw;
  }
  if (n == 0) {
    owner->finish_work(env);
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }

  auto* worker = new EmbedWorker(env, owner, std::move(engine));
  worker->images = std::move(images);  // vector moves keep landmark pointers valid
  worker->landmarks = std::move(landmarks);
  worker->flip = flip;
  worker->out = out.Data();
  worker->keep_alive = Napi::Persistent(pinned.As<Napi::Object>());
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

void queue_destroy(Napi::Env env, std::shared_ptr<mfn::Engine> engine, std::vector<Napi::Promise::Deferred> waiters) {
  auto* worker = new DestroyWorker(env, std::move(engine), std::move(waiters));
  worker->Queue();
}

}  // namespace mfn_node
