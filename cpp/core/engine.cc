// Engine: model + one backend. Validates caller images, turns each into an
// mfn_image with its sampling transform (alignment or resize), and feeds the
// backend in chunks of at most max_batch.
#include "mfn/engine.h"

#include <algorithm>
#include <cmath>
#include <mutex>
#include <string>
#include <vector>

#include "core/align.h"
#include "core/backend_registry.h"
#include "core/face_detector.h"
#include "core/model.h"
#include "core/preprocess.h"
#include "cpu/backend_cpu.h"
#include "mfn/backend.h"

namespace mfn {

struct Engine::Impl {
  std::unique_ptr<Model> model;
  std::unique_ptr<Backend> backend;
  std::unique_ptr<FaceDetector> detector;  // null without EngineOptions::detector_path
  std::string backend_name;
  std::string fallback_reason;
  // Backends are driven by one thread at a time; callers from several
  // threads take turns here.
  mutable std::mutex backend_mutex;
  // Stage times of the last embed, copied out under their own lock so that
  // reading them (from the JS main thread) never waits for a running batch.
  mutable std::mutex timings_mutex;
  mfn_stage_times timings{};

  Status to_mfn_image(const ImageInput& input, mfn_image* image) const;
};

Engine::Engine() : impl_(std::make_unique<Impl>()) {}
Engine::~Engine() = default;

namespace {

std::string manifest_beside(const std::string& model_path, const char* name = "manifest.json") {
  const size_t slash = model_path.find_last_of('/');
  return (slash == std::string::npos ? std::string() : model_path.substr(0, slash + 1)) + name;
}

Status check_detect_options(const DetectOptions& options) {
  if (options.max_faces < 1 || options.max_faces > kMaxFaces) {
    return Status(Code::invalid_argument, "maxFaces must be an integer from 1 to " + std::to_string(kMaxFaces));
  }
  if (!(options.min_score > 0.0f && options.min_score <= 1.0f)) {
    return Status(Code::invalid_argument, "minScore must be in (0, 1]");
  }
  return Status::ok();
}

// A model with finite weights can still overflow on some input (or a backend
// in FP16 can): such a vector, or an all-zero one that cannot be normalised,
// is an error, never an embedding. Runs on the embedding thread, after the
// backend; a scan of n * dims floats.
Status check_embeddings(const float* out, size_t n, size_t dims, size_t first) {
  for (size_t i = 0; i < n; ++i) {
    const float* e = out + i * dims;
    bool nonzero = false;
    for (size_t d = 0; d < dims; ++d) {
      if (!std::isfinite(e[d])) {
        return Status(Code::nonfinite, "image " + std::to_string(first + i) + ": the model computed a non-finite value");
      }
      nonzero = nonzero || e[d] != 0;
    }
    if (!nonzero) return Status(Code::nonfinite, "image " + std::to_string(first + i) + ": the model computed a zero vector");
  }
  return Status::ok();
}

}  // namespace

Status Engine::create(const EngineOptions& options, std::unique_ptr<Engine>* out) {
  if (options.max_batch < 1 || options.max_batch > 65536) {
    return Status(Code::invalid_argument, "maxBatch must be between 1 and 65536");
  }
  if (options.threads < 0 || options.threads > kMaxThreads) {
    return Status(Code::invalid_argument, "threads must be between 0 and " + std::to_string(kMaxThreads));
  }
  if (options.device < 0) return Status(Code::invalid_argument, "device must be >= 0");

  std::unique_ptr<Engine> engine(new Engine());
  Impl& impl = *engine->impl_;
  impl.model = std::make_unique<Model>();
  const std::string manifest =
      options.manifest_path.empty() ? manifest_beside(options.model_path) : options.manifest_path;
  MFN_RETURN_IF_ERROR(load_model(options.model_path, manifest, impl.model.get()));

  mfn_backend_config config{};
  config.device = options.device;
  config.max_batch = options.max_batch;
  config.threads = options.threads;

  if (options.backend != BackendChoice::cpu) {
    Status cuda = load_cuda_backend(options.plugin_dir, impl.model->plan, config, &impl.backend);
    if (!cuda.is_ok()) {
      if (options.backend == BackendChoice::cuda) return cuda;
      impl.fallback_reason = cuda.message();
    }
  }
  if (!impl.backend) {
    Status status;
    impl.backend = make_cpu_backend(impl.model->plan, config, &status);
    MFN_RETURN_IF_ERROR(status);
    if (!impl.backend) return Status(Code::internal, "the CPU backend could not be created");
  }
  impl.backend_name = impl.backend->name();
  if (!options.detector_path.empty()) {
    const std::string detector_manifest = options.detector_manifest_path.empty()
                                              ? manifest_beside(options.detector_path, "detector.json")
                                              : options.detector_manifest_path;
    mfn_backend_config detector_config = config;
    detector_config.max_batch = std::min(config.max_batch, kMaxDetectorBatch);
    // On the GPU when the embeddings are: the photos' detection then shares
    // the device, and the CPU stays free for decoding.
    const std::string cuda_plugin_dir = impl.backend_name == "cuda" ? options.plugin_dir : std::string();
    MFN_RETURN_IF_ERROR(FaceDetector::create(options.detector_path, detector_manifest, detector_config,
                                             cuda_plugin_dir, &impl.detector));
  }
  *out = std::move(engine);
  return Status::ok();
}

Status Engine::Impl::to_mfn_image(const ImageInput& input, mfn_image* image) const {
  MFN_RETURN_IF_ERROR(validate_image(input));
  const mfn_tensor_desc& in = model->plan.tensors[0];
  *image = image_view(input);
  if (input.landmarks) {
    MFN_RETURN_IF_ERROR(alignment_transform(input.landmarks, in.w, in.h, image->transform));
    image->border = MFN_BORDER_ZERO;
  } else {
    resize_transform(input.width, input.height, in.w, in.h, image->transform);
    image->border = MFN_BORDER_CLAMP;
  }
  return Status::ok();
}

Status Engine::embed(const ImageInput* images, size_t n, bool flip, float* out) {
  if (n == 0) return Status::ok();
  if (!images || !out) return Status(Code::invalid_argument, "images and out must not be null");
  std::vector<mfn_image> prepared(n);
  for (size_t i = 0; i < n; ++i) {
    Status status = impl_->to_mfn_image(images[i], &prepared[i]);
    if (!status.is_ok()) {
      return n == 1 ? status : Status(status.code(), "image " + std::to_string(i) + ": " + status.message());
    }
  }
  const size_t dims = static_cast<size_t>(dimensions());
  const size_t chunk = static_cast<size_t>(impl_->backend->max_batch());
  std::lock_guard<std::mutex> lock(impl_->backend_mutex);
  for (size_t first = 0; first < n; first += chunk) {
    const size_t count = std::min(chunk, n - first);
    MFN_RETURN_IF_ERROR(impl_->backend->embed(prepared.data() + first, count, flip, out + first * dims));
    MFN_RETURN_IF_ERROR(check_embeddings(out + first * dims, count, dims, first));
  }
  const mfn_stage_times timings = impl_->backend->last_timings();
  std::lock_guard<std::mutex> timings_lock(impl_->timings_mutex);
  impl_->timings = timings;
  return Status::ok();
}

Status Engine::validate(const ImageInput& image) const {
  mfn_image prepared{};
  return impl_->to_mfn_image(image, &prepared);
}

Status Engine::preprocess(const ImageInput& image, bool mirror, float* out) const {
  if (!out) return Status(Code::invalid_argument, "out must not be null");
  mfn_image prepared{};
  MFN_RETURN_IF_ERROR(impl_->to_mfn_image(image, &prepared));
  preprocess_image(prepared, impl_->model->plan, mirror, out);
  return Status::ok();
}

Status Engine::check_detect(const ImageInput& image, const DetectOptions& options) const {
  if (!impl_->detector) return Status(Code::model_unsupported, "this engine was created without a face detector");
  MFN_RETURN_IF_ERROR(check_detect_options(options));
  return validate_image(image);
}

Status Engine::detector_infer(const ImageInput* images, size_t n, float* out) {
  if (!impl_->detector) return Status(Code::model_unsupported, "this engine was created without a face detector");
  if (n == 0) return Status::ok();
  if (!images || !out) return Status(Code::invalid_argument, "images and out must not be null");
  for (size_t i = 0; i < n; ++i) MFN_RETURN_IF_ERROR(validate_image(images[i]));
  std::lock_guard<std::mutex> lock(impl_->backend_mutex);
  return impl_->detector->infer(images, n, out);
}

Status Engine::decode_faces(const ImageInput& image, const float* outputs, const DetectOptions& options,
                            std::vector<Face>* faces) const {
  if (!impl_->detector) return Status(Code::model_unsupported, "this engine was created without a face detector");
  return impl_->detector->decode(image, outputs, options, faces);
}

void Engine::align_faces(const ImageInput& image, std::vector<Face>* faces, std::vector<ImageInput>* aligned) const {
  aligned->clear();
  size_t kept = 0;
  for (Face& face : *faces) {
    ImageInput input = image;
    input.landmarks = face.landmarks;
    if (!validate(input).is_ok()) continue;  // degenerate points: dropped, not an error for the photo
    (*faces)[kept++] = face;
  }
  faces->resize(kept);
  for (Face& face : *faces) {
    aligned->push_back(image);
    aligned->back().landmarks = face.landmarks;
  }
}

Status Engine::detect(const ImageInput& image, const DetectOptions& options, std::vector<Face>* faces) {
  if (!faces) return Status(Code::invalid_argument, "faces must not be null");
  faces->clear();
  MFN_RETURN_IF_ERROR(check_detect(image, options));
  std::vector<float> raw(impl_->detector->output_floats());
  MFN_RETURN_IF_ERROR(detector_infer(&image, 1, raw.data()));
  return decode_faces(image, raw.data(), options, faces);
}

Status Engine::embed_faces(const ImageInput& image, const DetectOptions& options, bool flip, std::vector<Face>* faces,
                           std::vector<float>* embeddings) {
  if (!embeddings) return Status(Code::invalid_argument, "embeddings must not be null");
  embeddings->clear();
  MFN_RETURN_IF_ERROR(detect(image, options, faces));
  std::vector<ImageInput> aligned;
  align_faces(image, faces, &aligned);
  embeddings->resize(aligned.size() * static_cast<size_t>(dimensions()));
  return embed(aligned.data(), aligned.size(), flip, embeddings->data());
}

bool Engine::has_detector() const { return impl_->detector != nullptr; }

int Engine::detector_input_size() const { return impl_->detector ? impl_->detector->input_size() : 0; }
size_t Engine::detector_output_floats() const { return impl_->detector ? impl_->detector->output_floats() : 0; }
int Engine::detector_max_batch() const { return impl_->detector ? impl_->detector->max_batch() : 0; }

Status Engine::detector_input(const ImageInput& image, std::vector<float>* out) const {
  if (!impl_->detector) return Status(Code::model_unsupported, "this engine was created without a face detector");
  if (!out) return Status(Code::invalid_argument, "out must not be null");
  MFN_RETURN_IF_ERROR(validate_image(image));
  impl_->detector->input_tensor(image, out);
  return Status::ok();
}

Status Engine::detector_outputs(const ImageInput& image, std::vector<float>* out) {
  if (!impl_->detector) return Status(Code::model_unsupported, "this engine was created without a face detector");
  if (!out) return Status(Code::invalid_argument, "out must not be null");
  out->resize(impl_->detector->output_floats());
  return detector_infer(&image, 1, out->data());
}

const std::string& Engine::backend_name() const { return impl_->backend_name; }
std::string Engine::detector_backend_name() const { return impl_->detector ? impl_->detector->backend_name() : ""; }
std::string Engine::detector_fallback_reason() const {
  return impl_->detector ? impl_->detector->fallback_reason() : "";
}
const std::string& Engine::fallback_reason() const { return impl_->fallback_reason; }
int Engine::dimensions() const { return impl_->model->plan.embedding_size; }
int Engine::input_channels() const { return impl_->model->plan.tensors[0].c; }
int Engine::input_height() const { return impl_->model->plan.tensors[0].h; }
int Engine::input_width() const { return impl_->model->plan.tensors[0].w; }
int Engine::max_batch() const { return impl_->backend->max_batch(); }

mfn_stage_times Engine::last_timings() const {
  std::lock_guard<std::mutex> lock(impl_->timings_mutex);
  return impl_->timings;
}

}  // namespace mfn
