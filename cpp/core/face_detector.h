// The face detector: a second network (a BlazeFace-style anchor detector)
// lowered by the same reader and lowering as the embedding model and run by
// its own backend instance (the CUDA plugin's when the embeddings run there
// and the plugin takes the plan, else the CPU's), plus the detection
// arithmetic of detection.h around it. Used by Engine: infer() runs under
// the engine's backend lock (one thread at a time, the face batcher's worker
// when serving through FacePipeline); decode() and input_tensor() touch no
// backend and run on any thread.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/detection.h"
#include "core/model.h"
#include "mfn/backend.h"
#include "mfn/engine.h"

namespace mfn {

class FaceDetector {
 public:
  // Loads and checks the detector (a square input; its outputs pair into
  // levels of score maps with A channels and box maps with A * 16). Its
  // backend takes config.max_batch photos per pass. A non-empty
  // cuda_plugin_dir asks for the CUDA plugin there first; when it cannot
  // take the detector, the CPU backend runs it and fallback_reason() says why.
  static Status create(const std::string& onnx_path, const std::string& manifest_path, const mfn_backend_config& config,
                       const std::string& cuda_plugin_dir, std::unique_ptr<FaceDetector>* out);

  // Every image must have passed validate_image(). infer(): the raw outputs
  // of n photos, output_floats() each, in backend passes of max_batch().
  Status infer(const ImageInput* images, size_t n, float* out);
  // One photo's raw outputs -> its faces, highest score first. A
  // non-finite output (an FP16 backend overflowing, a hostile model) is
  // MFN_NONFINITE, never a face with infinite coordinates or a face silently
  // lost.
  Status decode(const ImageInput& image, const float* outputs, const DetectOptions& options,
                std::vector<Face>* faces) const;
  void input_tensor(const ImageInput& image, std::vector<float>* out) const;
  int input_size() const { return size_; }
  size_t output_floats() const { return output_floats_; }
  int max_batch() const { return backend_->max_batch(); }
  const char* backend_name() const { return backend_->name(); }
  const std::string& fallback_reason() const { return fallback_reason_; }

  // IoU above which weighted suppression merges two detections.
  static constexpr float kIouThreshold = 0.3f;
  // Detections above minScore that enter suppression, at most.
  static constexpr size_t kMaxCandidates = 4096;

 private:
  FaceDetector() = default;

  struct Level {
    size_t score_offset = 0, box_offset = 0;  // floats into one image's outputs
    int grid_w = 0, grid_h = 0, anchors = 0;
  };

  // The letterboxed input of `image` (shrunk first when large); `shrunk`
  // keeps the pixels an mfn_image then points into.
  void prepare(const ImageInput& image, std::vector<uint8_t>* shrunk, mfn_image* prepared) const;

  Model model_;
  std::unique_ptr<Backend> backend_;
  std::vector<Level> levels_;
  size_t output_floats_ = 0;
  std::string fallback_reason_;  // why not CUDA, when it was asked for
  int size_ = 0;
  float align_points_[8] = {};
};

}  // namespace mfn
