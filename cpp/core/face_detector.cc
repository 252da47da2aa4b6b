#include "core/face_detector.h"

#include <algorithm>
#include <cmath>

#include "core/backend_registry.h"
#include "core/preprocess.h"
#include "cpu/backend_cpu.h"

namespace mfn {

namespace {

constexpr int kBoxFloats = 4 + 2 * kDetectorKeypoints;

Status unsupported(const std::string& what) { return Status(Code::model_unsupported, "detector: " + what); }

}  // namespace

Status FaceDetector::create(const std::string& onnx_path, const std::string& manifest_path,
                            const mfn_backend_config& config, const std::string& cuda_plugin_dir,
                            std::unique_ptr<FaceDetector>* out) {
  std::unique_ptr<FaceDetector> d(new FaceDetector());
  MFN_RETURN_IF_ERROR(load_model(onnx_path, manifest_path, &d->model_));
  const mfn_plan& plan = d->model_.plan;
  if (d->model_.manifest.kind != "detector" || plan.num_outputs < 2) {
    return unsupported("manifest " + manifest_path + " does not describe a detector with score and box outputs");
  }
  if (plan.tensors[0].h != plan.tensors[0].w) return unsupported("the input must be square");
  d->size_ = plan.tensors[0].h;

  // Pair outputs of equal grids: scores with A channels, boxes with A * 16.
  std::vector<size_t> offset(plan.num_outputs);
  for (int i = 0; i < plan.num_outputs; ++i) {
    const mfn_tensor_desc& t = plan.tensors[plan.outputs[i]];
    offset[i] = d->output_floats_;
    d->output_floats_ += static_cast<size_t>(t.c) * t.h * t.w;
  }
  std::vector<bool> used(plan.num_outputs, false);
  for (int i = 0; i < plan.num_outputs; ++i) {
    const mfn_tensor_desc& s = plan.tensors[plan.outputs[i]];
    for (int j = 0; j < plan.num_outputs; ++j) {
      const mfn_tensor_desc& b = plan.tensors[plan.outputs[j]];
      if (used[i] || used[j] || b.h != s.h || b.w != s.w || b.c != s.c * kBoxFloats) continue;
      used[i] = used[j] = true;
      Level level;
      level.score_offset = offset[i];
      level.box_offset = offset[j];
      level.grid_w = s.w;
      level.grid_h = s.h;
      level.anchors = s.c;
      d->levels_.push_back(level);
    }
  }
  for (int i = 0; i < plan.num_outputs; ++i) {
    if (!used[i]) return unsupported("output " + std::to_string(i) + " has no matching score or box map");
  }
  if (d->levels_.empty()) return unsupported("no score map / box map pair among the outputs");

  if (d->model_.manifest.align_points.empty()) {
    default_align_points(d->align_points_);
  } else {
    std::copy(d->model_.manifest.align_points.begin(), d->model_.manifest.align_points.end(), d->align_points_);
  }

  if (!cuda_plugin_dir.empty()) {
    Status cuda = load_cuda_backend(cuda_plugin_dir, plan, config, &d->backend_);
    if (!cuda.is_ok()) d->fallback_reason_ = "detector: " + cuda.message();
  }
  if (!d->backend_) {
    Status status;
    d->backend_ = make_cpu_backend(plan, config, &status);
    MFN_RETURN_IF_ERROR(status);
    if (!d->backend_) return Status(Code::internal, "detector: the CPU backend could not be created");
  }
  *out = std::move(d);
  return Status::ok();
}

void FaceDetector::prepare(const ImageInput& image, std::vector<uint8_t>* shrunk, mfn_image* prepared) const {
  const Letterbox box = letterbox(image.width, image.height, size_);
  const int factor = shrink_factor(box);
  *prepared = image_view(image);
  if (factor > 1) {
    int w = 0, h = 0;
    *shrunk = shrink_image(image, factor, &w, &h);
    prepared->data = shrunk->data();
    prepared->width = w;
    prepared->height = h;
    prepared->channels = 3;
    prepared->row_stride = static_cast<size_t>(w) * 3;
  }
  prepared->border = MFN_BORDER_ZERO;
  letterbox_transform(box, factor, prepared->transform);
}

Status FaceDetector::infer(const ImageInput* images, size_t n, float* out) {
  const size_t chunk = static_cast<size_t>(backend_->max_batch());
  std::vector<std::vector<uint8_t>> shrunk(std::min(chunk, n));
  std::vector<mfn_image> prepared(shrunk.size());
  for (size_t first = 0; first < n; first += chunk) {
    const size_t count = std::min(chunk, n - first);
    for (size_t i = 0; i < count; ++i) prepare(images[first + i], &shrunk[i], &prepared[i]);
    MFN_RETURN_IF_ERROR(backend_->infer(prepared.data(), count, out + first * output_floats_));
  }
  return Status::ok();
}

void FaceDetector::input_tensor(const ImageInput& image, std::vector<float>* out) const {
  std::vector<uint8_t> shrunk;
  mfn_image prepared{};
  prepare(image, &shrunk, &prepared);
  out->resize(static_cast<size_t>(3) * size_ * size_);
  preprocess_image(prepared, model_.plan, false, out->data());
}

Status FaceDetector::decode(const ImageInput& image, const float* outputs, const DetectOptions& options,
                            std::vector<Face>* faces) const {
  faces->clear();
  for (size_t i = 0; i < output_floats_; ++i) {
    if (!std::isfinite(outputs[i])) return Status(Code::nonfinite, "the face detector computed a non-finite value");
  }
  const Letterbox box = letterbox(image.width, image.height, size_);
  std::vector<Detection> candidates;
  for (const Level& l : levels_) {
    AnchorLevel level;
    level.scores = outputs + l.score_offset;
    level.boxes = outputs + l.box_offset;
    level.grid_w = l.grid_w;
    level.grid_h = l.grid_h;
    level.anchors = l.anchors;
    decode_anchors(level, size_, options.min_score, &candidates);
  }
  // Suppression is quadratic: a detector with a huge anchor grid keeps only
  // its best kMaxCandidates (BlazeFace has 896 anchors in all).
  if (candidates.size() > kMaxCandidates) {
    std::nth_element(candidates.begin(), candidates.begin() + kMaxCandidates, candidates.end(),
                     [](const Detection& a, const Detection& b) { return a.score > b.score; });
    candidates.resize(kMaxCandidates);
  }
  for (const Detection& d : weighted_nms(std::move(candidates), kIouThreshold)) {
    if (static_cast<int>(faces->size()) >= options.max_faces) break;
    Face face;
    if (to_face(d, box, align_points_, &face)) faces->push_back(face);
  }
  return Status::ok();
}

}  // namespace mfn
