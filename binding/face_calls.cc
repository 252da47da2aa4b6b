#include "face_calls.h"

#include <atomic>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "cancel_token.h"
#include "image_args.h"
#include "napi_util.h"

namespace mfn_node {

namespace {

Napi::Float32Array copy(Napi::Env env, const float* data, size_t n) {
  Napi::Float32Array array = Napi::Float32Array::New(env, n);
  std::copy(data, data + n, array.Data());
  return array;
}

// detectorOutputs(): one photo's raw detector outputs, for parity tests; off
// the batching queue, on libuv's pool.
class OutputsWorker : public Napi::AsyncWorker {
 public:
  OutputsWorker(Napi::Env env, std::shared_ptr<mfn::Engine> engine, OwnedImages owned)
      : Napi::AsyncWorker(env, "mfn:detector-outputs"), deferred_(Napi::Promise::Deferred::New(env)),
        engine_(std::move(engine)), owned_(std::move(owned)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  // Pool thread.
  void Execute() override {
    try {
      status_ = engine_->detector_outputs(owned_.images.at(0), &raw_);
    } catch (const std::exception& e) {
      status_ = mfn::Status(mfn::Code::internal, std::string("unexpected engine failure: ") + e.what());
    }
  }

  // JS thread.
  void OnOK() override {
    Napi::Env env = Env();
    try {
      if (!status_.is_ok()) {
        deferred_.Reject(status_error(env, status_).Value());
      } else {
        deferred_.Resolve(copy(env, raw_.data(), raw_.size()));
      }
    } catch (const Napi::Error&) {
      // Environment shutting down: nobody waits for the promise any more.
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<mfn::Engine> engine_;
  OwnedImages owned_;
  std::vector<float> raw_;
  mfn::Status status_;
};

// What detection asks of a photo beyond check_image(): embed()'s checks
// without landmarks, and a detector. Runs no JavaScript.
void check_photo(Napi::Env env, const mfn::ImageInput& photo, const mfn::Engine& engine) {
  mfn::Status status = engine.validate(photo);
  if (!status.is_ok()) throw status_error(env, status);
  if (!engine.has_detector()) {
    throw make_error(env, "MFN_MODEL_UNSUPPORTED", "This embedder was created without a face detector");
  }
}

// The image argument, read (image_args.h step 1) before this and checked
// here in place. Runs no JavaScript: the pixels it points at stay valid
// until the caller uses them.
mfn::ImageInput face_image(Napi::Env env, const ImageValues& values, const mfn::Engine& engine, float* landmarks) {
  mfn::ImageInput image = check_image(env, values, "image", landmarks);
  image.landmarks = nullptr;  // detection finds its own
  check_photo(env, image, engine);
  return image;
}

mfn::DetectOptions detect_options(Napi::Env env, const Napi::Value& max_faces, const Napi::Value& min_score) {
  mfn::DetectOptions options;
  options.max_faces = get_int(env, max_faces, "options.maxFaces", 1, mfn::kMaxFaces);
  if (!min_score.IsNumber()) throw_invalid(env, "options.minScore", "a number in (0, 1]", min_score);
  const double score = min_score.As<Napi::Number>().DoubleValue();
  if (!(score > 0 && score <= 1)) throw_invalid(env, "options.minScore", "a number in (0, 1]", min_score);
  options.min_score = static_cast<float>(score);
  return options;
}

// The photo checked like embed() checks it and copied (rows packed), with
// no JavaScript in between; landmarks are dropped (detection finds its own).
OwnedImages own_photo(Napi::Env env, const ImageValues& values, const mfn::Engine& engine) {
  OwnedImages owned;
  try {
    owned = own_images(env, {values}, [](size_t) { return std::string("image"); });
  } catch (const std::bad_alloc&) {
    throw make_error(env, "MFN_OUT_OF_MEMORY", "out of memory taking the call's image");
  }
  owned.images.at(0).landmarks = nullptr;
  check_photo(env, owned.images[0], engine);
  return owned;
}

// detect(image, maxFaces, minScore, cancel?) and
// embedFaces(image, maxFaces, minScore, flip, cancel?): through the queue.
Napi::Value start(const Napi::CallbackInfo& info, EngineWrap* owner, bool embed) {
  Napi::Env env = info.Env();
  // Every read that can run the caller's JavaScript comes first
  // (image_args.h); from the disposed check to the submit none runs.
  ImageValues values = read_image(env, info[0], "image");
  mfn::DetectOptions options = detect_options(env, info[1], info[2]);
  bool flip = true;
  size_t token = 3;
  if (embed) {
    flip = get_bool(env, info[3], "flip");
    token = 4;
  }
  std::shared_ptr<const std::atomic<bool>> cancelled;
  if (info.Length() > token && !info[token].IsUndefined()) {
    cancelled = CancelToken::flag_of(env, info[token], "cancelToken");
  }
  const mfn::Engine& engine = owner->engine_for_call(env);
  OwnedImages owned = own_photo(env, values, engine);  // throws before any promise exists
  auto call = std::make_unique<FaceCall>(env);
  call->owned = std::move(owned);  // moves keep the pixel pointer valid
  call->options = options;
  call->embed = embed;
  call->flip = flip;
  call->cancelled = std::move(cancelled);
  call->owner = Napi::Persistent(owner->Value());
  Napi::Promise promise = call->deferred.Promise();
  try {
    owner->submit(env, call);
  } catch (...) {
    // Refused (queue full, disposed): settle the promise nobody will see,
    // so that its handle is freed, and throw the reason.
    try {
      call->deferred.Resolve(env.Undefined());
    } catch (const Napi::Error&) {
    }
    throw;
  }
  return promise;
}

}  // namespace

// JavaScript thread.
void FaceCall::settle(Napi::Env env) {
  if (!status.is_ok()) {
    deferred.Reject(status_error(env, status).Value());
    return;
  }
  std::vector<float> boxes, landmarks, keypoints;
  for (const mfn::Face& f : faces) {
    boxes.insert(boxes.end(), {f.x, f.y, f.width, f.height, f.score});
    landmarks.insert(landmarks.end(), f.landmarks, f.landmarks + 10);
    keypoints.insert(keypoints.end(), f.keypoints, f.keypoints + 12);
  }
  Napi::Object result = Napi::Object::New(env);
  result.Set("boxes", copy(env, boxes.data(), boxes.size()));
  result.Set("landmarks", copy(env, landmarks.data(), landmarks.size()));
  result.Set("keypoints", copy(env, keypoints.data(), keypoints.size()));
  if (embed) result.Set("embeddings", copy(env, embeddings.data(), embeddings.size()));
  deferred.Resolve(result);
}

Napi::Value face_detect(const Napi::CallbackInfo& info, EngineWrap* owner) { return start(info, owner, false); }
Napi::Value face_embed(const Napi::CallbackInfo& info, EngineWrap* owner) { return start(info, owner, true); }

Napi::Value face_detector_outputs(const Napi::CallbackInfo& info, EngineWrap* owner) {
  Napi::Env env = info.Env();
  ImageValues values = read_image(env, info[0], "image");
  std::shared_ptr<mfn::Engine> engine = owner->shared_engine(env);
  OwnedImages owned = own_photo(env, values, *engine);
  auto worker = std::make_unique<OutputsWorker>(env, std::move(engine), std::move(owned));
  Napi::Promise promise = worker->promise();
  worker.release()->Queue();  // the AsyncWorker deletes itself once it has settled
  return promise;
}

Napi::Value face_detector_input(const Napi::CallbackInfo& info, EngineWrap* owner) {
  Napi::Env env = info.Env();
  ImageValues values = read_image(env, info[0], "image");
  Napi::Float32Array out = get_float32_array(env, info[1], "out");
  std::shared_ptr<mfn::Engine> engine = owner->shared_engine(env);
  const size_t size = static_cast<size_t>(engine->detector_input_size());
  if (out.ElementLength() != 3 * size * size) {
    throw make_error(env, "MFN_INVALID_ARGUMENT",
                     "Expected a Float32Array of " + std::to_string(3 * size * size) + " values for out");
  }
  float landmarks[10];
  // In place and synchronous: the pixels are read before JavaScript can run again.
  mfn::ImageInput image = face_image(env, values, *engine, landmarks);
  std::vector<float> tensor;
  mfn::Status status = engine->detector_input(image, &tensor);
  if (!status.is_ok()) throw status_error(env, status);
  std::copy(tensor.begin(), tensor.end(), out.Data());
  return env.Undefined();
}

}  // namespace mfn_node
