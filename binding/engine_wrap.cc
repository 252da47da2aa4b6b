#include "engine_wrap.h"

#include <utility>

#include "face_calls.h"
#include "image_args.h"
#include "napi_util.h"
#include "workers.h"

namespace mfn_node {

namespace {

// Marks the External that carries a new engine into the constructor, so that
// `new Engine(x)` from JavaScript cannot hand us anything else.
const napi_type_tag kEngineTag = {0x6d666e2d656e6769ULL, 0x6e652d7772617031ULL};

}  // namespace

Napi::Function EngineWrap::define_class(Napi::Env env) {
  return DefineClass(env, "Engine",
                     {
                         InstanceMethod<&EngineWrap::embed>("embed"),
                         InstanceMethod<&EngineWrap::preprocess>("preprocess"),
                         InstanceMethod<&EngineWrap::detect>("detect"),
                         InstanceMethod<&EngineWrap::embed_faces>("embedFaces"),
                         InstanceMethod<&EngineWrap::detector_input>("detectorInput"),
                         InstanceMethod<&EngineWrap::detector_outputs>("detectorOutputs"),
                         InstanceAccessor<&EngineWrap::detector_input_size>("detectorInputSize"),
                         InstanceMethod<&EngineWrap::last_timings>("lastTimings"),
                         InstanceMethod<&EngineWrap::batch_stats>("batchStats"),
                         InstanceMethod<&EngineWrap::dispose>("dispose"),
                         InstanceAccessor<&EngineWrap::backend>("backend"),
                         InstanceAccessor<&EngineWrap::fallback_reason>("fallbackReason"),
                         InstanceAccessor<&EngineWrap::detector_backend>("detectorBackend"),
                         InstanceAccessor<&EngineWrap::detector_fallback_reason>("detectorFallbackReason"),
                         InstanceAccessor<&EngineWrap::dimensions>("dimensions"),
                         InstanceAccessor<&EngineWrap::input_shape>("inputShape"),
                         InstanceAccessor<&EngineWrap::max_batch>("maxBatch"),
                         InstanceAccessor<&EngineWrap::disposed>("disposed"),
                     });
}

Napi::Object EngineWrap::wrap(Napi::Env env, AddonData* addon, NewEngine engine) {
  Napi::External<NewEngine> carrier = Napi::External<NewEngine>::New(env, &engine);
  carrier.TypeTag(&kEngineTag);
  return addon->engine_constructor.New({carrier});
}

EngineWrap::EngineWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<EngineWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal() || !info[0].As<Napi::External<void>>().CheckTypeTag(&kEngineTag)) {
    throw Napi::TypeError::New(env, "Engine cannot be constructed directly; use createEngine()");
  }
  NewEngine& created = *info[0].As<Napi::External<NewEngine>>().Data();
  env_ = env;
  engine_ = std::move(created.engine);
  backend_ = engine_->backend_name();
  fallback_reason_ = engine_->fallback_reason();
  detector_backend_ = engine_->detector_backend_name();
  detector_fallback_reason_ = engine_->detector_fallback_reason();
  dimensions_ = engine_->dimensions();
  input_c_ = engine_->input_channels();
  input_h_ = engine_->input_height();
  input_w_ = engine_->input_width();
  max_batch_ = engine_->max_batch();
  detector_input_size_ = engine_->detector_input_size();
  queue_ = std::make_unique<BatchQueue>(env, std::move(created.threads), [this](Napi::Env env, size_t pending) {
    if (pending == 0) destroy_if_idle(env);
  });
  // After the queue: node runs cleanup hooks last-registered first, so this
  // one runs before the hook that frees the queue's thread-safe function.
  napi_add_env_cleanup_hook(env, &EngineWrap::teardown_hook, this);
  hooked_ = true;
}

EngineWrap::~EngineWrap() {
  // Finalizer (JavaScript thread): an engine that was never disposed. No
  // call is pending (each pins this object), so the worker thread is idle.
  remove_teardown_hook();
  close_now();
}

void EngineWrap::teardown_hook(void* self) {
  EngineWrap* wrap = static_cast<EngineWrap*>(self);
  wrap->hooked_ = false;
  wrap->close_now();
}

void EngineWrap::remove_teardown_hook() {
  if (!hooked_) return;
  napi_remove_env_cleanup_hook(env_, &EngineWrap::teardown_hook, this);
  hooked_ = false;
}

void EngineWrap::close_now() {
  disposed_ = true;
  if (queue_) {
    queue_->close_for_teardown();
    queue_.reset();
  }
  engine_.reset();
  dispose_waiters_.clear();
  dispose_promise_.Reset();
}

void EngineWrap::throw_if_disposed(Napi::Env env) const {
  if (disposed_) throw make_error(env, "MFN_DISPOSED", "This embedder has been disposed");
}

const mfn::Engine& EngineWrap::engine_for_call(Napi::Env env) const { return *shared_engine(env); }

std::shared_ptr<mfn::Engine> EngineWrap::shared_engine(Napi::Env env) const {
  throw_if_disposed(env);
  return engine_;
}

void EngineWrap::submit(Napi::Env env, std::unique_ptr<EmbedCall>& call) {
  throw_if_disposed(env);
  // The call pins this object until it settles, so no finalizer can close
  // the queue under it.
  mfn::Status status = queue_->submit(env, call);
  if (!status.is_ok()) throw status_error(env, status);
}

void EngineWrap::submit(Napi::Env env, std::unique_ptr<FaceCall>& call) {
  throw_if_disposed(env);
  mfn::Status status = queue_->submit(env, call);
  if (!status.is_ok()) throw status_error(env, status);
}

void EngineWrap::destroy_if_idle(Napi::Env env) {
  if (!disposed_ || !queue_ || queue_->pending() > 0) return;
  remove_teardown_hook();
  QueueThreads threads = queue_->close();
  queue_.reset();
  queue_destroy(env, std::move(threads), std::move(engine_), std::move(dispose_waiters_));
  dispose_waiters_.clear();
}

Napi::Value EngineWrap::embed(const Napi::CallbackInfo& info) {
  return queue_embed(info, this);
}

Napi::Value EngineWrap::detect(const Napi::CallbackInfo& info) { return face_detect(info, this); }
Napi::Value EngineWrap::embed_faces(const Napi::CallbackInfo& info) { return face_embed(info, this); }
Napi::Value EngineWrap::detector_input(const Napi::CallbackInfo& info) { return face_detector_input(info, this); }
Napi::Value EngineWrap::detector_outputs(const Napi::CallbackInfo& info) { return face_detector_outputs(info, this); }
Napi::Value EngineWrap::detector_input_size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), detector_input_size_);
}

Napi::Value EngineWrap::preprocess(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // Every read that can run the caller's JavaScript comes first
  // (image_args.h); from the disposed check to the engine call none runs.
  ImageValues values = read_image(env, info[0], "image");
  bool mirror = get_bool(env, info[1], "mirror");
  throw_if_disposed(env);
  Napi::Float32Array out = get_float32_array(env, info[2], "out");
  size_t expected = static_cast<size_t>(input_c_) * input_h_ * input_w_;
  if (out.ElementLength() != expected) {
    throw make_error(env, "MFN_INVALID_ARGUMENT",
                     "Expected a Float32Array of " + std::to_string(expected) + " values for out but received " +
                         std::to_string(out.ElementLength()));
  }
  float landmarks[10];
  // In place: the pixels are read before JavaScript can run again.
  mfn::ImageInput image = check_image(env, values, "image", landmarks);
  // Synchronous: one 112x112 resample, a few tens of microseconds.
  mfn::Status status = engine_->preprocess(image, mirror, out.Data());
  if (!status.is_ok()) throw status_error(env, status);
  return env.Undefined();
}

Napi::Value EngineWrap::last_timings(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  throw_if_disposed(env);
  mfn_stage_times times = engine_->last_timings();
  Napi::Object result = Napi::Object::New(env);
  result.Set("preprocessMs", times.preprocess_ms);
  result.Set("hostToDeviceMs", times.host_to_device_ms);
  result.Set("computeMs", times.compute_ms);
  result.Set("deviceToHostMs", times.device_to_host_ms);
  return result;
}

// Counters of the batching queue (and of its detection stage) since the
// engine was created.
Napi::Value EngineWrap::batch_stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  throw_if_disposed(env);
  mfn::BatcherStats stats = queue_->stats();
  mfn::BatcherStats faces = queue_->face_stats();
  Napi::Object result = Napi::Object::New(env);
  result.Set("batches", static_cast<double>(stats.batches));
  result.Set("images", static_cast<double>(stats.images));
  result.Set("requests", static_cast<double>(stats.requests));
  result.Set("rejected", static_cast<double>(stats.rejected + faces.rejected));
  result.Set("largestBatch", stats.largest_batch);
  result.Set("detectionBatches", static_cast<double>(faces.batches));
  result.Set("detectionImages", static_cast<double>(faces.images));
  result.Set("largestDetectionBatch", faces.largest_batch);
  result.Set("queuedImages", static_cast<double>(queue_->queued_images()));
  result.Set("pendingCalls", static_cast<double>(queue_->pending()));
  return result;
}

// Idempotent: every call returns the same promise, which resolves once the
// engine has been destroyed. Never blocks: the batch already running
// finishes and its calls resolve; calls still queued reject with
// MFN_DISPOSED (completed by the batcher's worker thread); every later call
// throws MFN_DISPOSED.
Napi::Value EngineWrap::dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (dispose_promise_.IsEmpty()) {
    Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
    dispose_promise_ = Napi::Persistent(static_cast<Napi::Object>(deferred.Promise()));
    disposed_ = true;
    if (queue_) {
      dispose_waiters_.push_back(deferred);
      queue_->stop();
      destroy_if_idle(env);
    } else {
      deferred.Resolve(env.Undefined());
    }
  }
  return dispose_promise_.Value();
}

Napi::Value EngineWrap::backend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), backend_);
}

Napi::Value EngineWrap::fallback_reason(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), fallback_reason_);
}

Napi::Value EngineWrap::detector_backend(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), detector_backend_);
}

Napi::Value EngineWrap::detector_fallback_reason(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), detector_fallback_reason_);
}

Napi::Value EngineWrap::dimensions(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), dimensions_);
}

Napi::Value EngineWrap::input_shape(const Napi::CallbackInfo& info) {
  Napi::Array shape = Napi::Array::New(info.Env(), 3);
  shape.Set(0u, input_c_);
  shape.Set(1u, input_h_);
  shape.Set(2u, input_w_);
  return shape;
}

Napi::Value EngineWrap::max_batch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), max_batch_);
}

Napi::Value EngineWrap::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), disposed_);
}

}  // namespace mfn_node
