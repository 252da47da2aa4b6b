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

enum class Mode { detect, embed, outputs };

class FaceWorker : public Napi::AsyncWorker {
 public:
  FaceWorker(Napi::Env env, std::shared_ptr<mfn::Engine> engine, Mode mode)
      : Napi::AsyncWorker(env, "mfn:faces"), deferred_(Napi::Promise::Deferred::New(env)),
        engine_(std::move(engine)), mode_(mode) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  // JS thread: the image is copied here (rows packed), never read in place.
  void take_image(const mfn::ImageInput& image) {
    const size_t row = static_cast<size_t>(image.width) * image.channels;
    const size_t stride = image.row_stride ? image.row_stride : row;
    pixels_.resize(row * image.height);
    for (int y = 0; y < image.height; ++y) {
      std::copy(image.data + y * stride, image.data + y * stride + row, pixels_.begin() + y * row);
    }
    image_ = image;
    image_.data = pixels_.data();
    image_.size = pixels_.size();
    image_.row_stride = row;
    image_.landmarks = nullptr;
  }

  mfn::DetectOptions options;
  bool flip = true;
  std::shared_ptr<const std::atomic<bool>> cancelled;

  // Pool thread.
  void Execute() override {
    if (cancelled && cancelled->load()) {
      status_ = mfn::Status(mfn::Code::aborted, "The operation was aborted");
      return;
    }
    try {
      if (mode_ == Mode::outputs) {
        status_ = engine_->detector_outputs(image_, &raw_);
      } else if (mode_ == Mode::embed) {
        status_ = engine_->embed_faces(image_, options, flip, &faces_, &raw_);
      } else {
        status_ = engine_->detect(image_, options, &faces_);
      }
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
        return;
      }
      if (mode_ == Mode::outputs) {
        deferred_.Resolve(copy(env, raw_.data(), raw_.size()));
        return;
      }
      std::vector<float> boxes, landmarks, keypoints;
      for (const mfn::Face& f : faces_) {
        boxes.insert(boxes.end(), {f.x, f.y, f.width, f.height, f.score});
        landmarks.insert(landmarks.end(), f.landmarks, f.landmarks + 10);
        keypoints.insert(keypoints.end(), f.keypoints, f.keypoints + 12);
      }
      Napi::Object result = Napi::Object::New(env);
      result.Set("boxes", copy(env, boxes.data(), boxes.size()));
      result.Set("landmarks", copy(env, landmarks.data(), landmarks.size()));
      result.Set("keypoints", copy(env, keypoints.data(), keypoints.size()));
      if (mode_ == Mode::embed) result.Set("embeddings", copy(env, raw_.data(), raw_.size()));
      deferred_.Resolve(result);
    } catch (const Napi::Error&) {
      // Environment shutting down: nobody waits for the promise any more.
    }
  }

 private:
  static Napi::Float32Array copy(Napi::Env env, const float* data, size_t n) {
    Napi::Float32Array array = Napi::Float32Array::New(env, n);
    std::copy(data, data + n, array.Data());
    return array;
  }

  Napi::Promise::Deferred deferred_;
  std::shared_ptr<mfn::Engine> engine_;
  Mode mode_;
  std::vector<uint8_t> pixels_;
  mfn::ImageInput image_;
  std::vector<mfn::Face> faces_;
  std::vector<float> raw_;
  mfn::Status status_;
};

// The image argument, read (image_args.h step 1) before this and checked here
// like embed() checks it. Runs no JavaScript: the pixels it points at stay
// valid until the caller copies or uses them.
mfn::ImageInput face_image(Napi::Env env, const ImageValues& values, const mfn::Engine& engine, float* landmarks) {
  mfn::ImageInput image = check_image(env, values, "image", landmarks);
  image.landmarks = nullptr;  // detection finds its own
  mfn::Status status = engine.validate(image);
  if (!status.is_ok()) throw status_error(env, status);
  if (!engine.has_detector()) {
    throw make_error(env, "MFN_MODEL_UNSUPPORTED", "This embedder was created without a face detector");
  }
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

Napi::Value start(const Napi::CallbackInfo& info, EngineWrap* owner, Mode mode) {
  Napi::Env env = info.Env();
  // Every read that can run the caller's JavaScript comes first
  // (image_args.h); from the disposed check to the copy of the pixels none runs.
  ImageValues values = read_image(env, info[0], "image");
  mfn::DetectOptions options;
  bool flip = true;
  std::shared_ptr<const std::atomic<bool>> cancelled;
  if (mode != Mode::outputs) options = detect_options(env, info[1], info[2]);
  size_t token = 3;
  if (mode == Mode::embed) {
    flip = get_bool(env, info[3], "flip");
    token = 4;
  }
  if (mode != Mode::outputs && info.Length() > token && !info[token].IsUndefined()) {
    cancelled = CancelToken::flag_of(env, info[token], "cancelToken");
  }
  std::shared_ptr<mfn::Engine> engine = owner->shared_engine(env);
  float landmarks[10];
  mfn::ImageInput image = face_image(env, values, *engine, landmarks);
  auto worker = std::make_unique<FaceWorker>(env, engine, mode);
  worker->options = options;
  worker->flip = flip;
  worker->cancelled = std::move(cancelled);
  try {
    worker->take_image(image);
  } catch (const std::bad_alloc&) {
    throw make_error(env, "MFN_OUT_OF_MEMORY", "out of memory taking the call's image");
  }
  Napi::Promise promise = worker->promise();
  worker.release()->Queue();  // the AsyncWorker deletes itself once it has settled
  return promise;
}

}  // namespace

Napi::Value face_detect(const Napi::CallbackInfo& info, EngineWrap* owner) { return start(info, owner, Mode::detect); }
Napi::Value face_embed(const Napi::CallbackInfo& info, EngineWrap* owner) { return start(info, owner, Mode::embed); }
Napi::Value face_detector_outputs(const Napi::CallbackInfo& info, EngineWrap* owner) {
  return start(info, owner, Mode::outputs);
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
