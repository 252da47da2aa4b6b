// The public C++ API of the engine: load a model, pick a backend, embed.
// No Node and no CUDA headers: the N-API binding and cpp/tools use this file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mfn/abi.h"
#include "mfn/status.h"

namespace mfn {

class Backend;
struct Model;

enum class BackendChoice { automatic, cpu, cuda };

// The most CPU threads an engine uses: EngineOptions::threads above it is
// refused (invalid_argument), and 0 (all cores) means at most this many.
// The binding and the TypeScript API check the same bound.
constexpr int kMaxThreads = 256;

struct EngineOptions {
  std::string model_path;        // the .onnx file
  std::string manifest_path;     // its manifest.json; empty = beside the model
  BackendChoice backend = BackendChoice::automatic;
  int threads = 0;               // CPU threads, 0..kMaxThreads; 0 = all cores (at most kMaxThreads)
  int device = 0;                // GPU ordinal
  int max_batch = 256;           // images per backend call
  std::string plugin_dir;        // where libmfn_cuda.so lives; empty = no plugin
  std::string detector_path;     // the face detector's .onnx; empty = no detect()/embed_faces()
  std::string detector_manifest_path;  // its manifest; empty = detector.json beside it
};

// Most faces one image yields (detect/embed_faces cap maxFaces here).
constexpr int kMaxFaces = 256;

// Most photos one detector pass takes (fewer when max_batch is smaller):
// enough for every core to run whole photos, little enough to bound the
// detector's staging memory (256x256x3 floats a photo).
constexpr int kMaxDetectorBatch = 16;

// One face found by detect(), in the caller's image pixels.
struct Face {
  float x = 0, y = 0, width = 0, height = 0;  // box, continuous pixel units, not clipped to the image
  float score = 0;                            // detector confidence, 0..1
  float landmarks[10] = {};                   // five ArcFace points (x0,y0..x4,y4), pixel centres
  float keypoints[12] = {};                   // the detector's own six points, pixel centres: eyes (image
                                              // left, right), nose tip, mouth centre, ears (left, right)
};

struct DetectOptions {
  int max_faces = kMaxFaces;     // 1..kMaxFaces: the best max_faces faces are kept
  float min_score = 0.5f;        // (0, 1]: anchors below it are dropped before suppression
};

// A caller's image: HWC uint8 pixels, read in place.
struct ImageInput {
  const uint8_t* data = nullptr;
  size_t size = 0;               // bytes available at data (bounds check)
  int width = 0;
  int height = 0;
  int channels = 3;              // 3 or 4 (alpha last, ignored)
  mfn_pixel_order order = MFN_ORDER_RGB;
  size_t row_stride = 0;         // 0 = width * channels
  const float* landmarks = nullptr;  // 10 floats (x0,y0..x4,y4) or nullptr
};

class Engine {
 public:
  static Status create(const EngineOptions& options, std::unique_ptr<Engine>* out);
  ~Engine();

  // Embeds n images into out[n * dimensions()]. Validates every input first
  // (bad dimensions, channels, landmarks -> error, nothing computed). Splits
  // n into backend batches. Safe to call from several threads: calls are
  // serialised on the backend.
  Status embed(const ImageInput* images, size_t n, bool flip, float* out);

  // The checks embed() makes on one image (dimensions, channels, pixel
  // bounds, landmarks that give a usable alignment), nothing computed. Any
  // thread. A batching queue calls it before it accepts an image, so that a
  // bad image fails only its own request, never a shared batch.
  Status validate(const ImageInput& image) const;

  // The model-input tensor of one image (NCHW float, c*h*w values, the
  // exact values the backend sees), mirrored when `mirror`. For tests and
  // for feeding other runtimes the same input.
  Status preprocess(const ImageInput& image, bool mirror, float* out) const;

  // Faces in one image, highest score first (no face: empty, ok). Same image
  // checks as embed(); bad options -> MFN_INVALID_ARGUMENT; no detector
  // loaded -> MFN_MODEL_UNSUPPORTED. Any thread; serialised with embed().
  Status detect(const ImageInput& image, const DetectOptions& options, std::vector<Face>* faces);

  // detect(), then every face aligned on its landmarks and embedded (with
  // flip) in one backend batch: embeddings[i * dimensions()] is faces[i]'s.
  Status embed_faces(const ImageInput& image, const DetectOptions& options, bool flip, std::vector<Face>* faces,
                     std::vector<float>* embeddings);

  // detect() in steps, for a queue that batches photos across callers
  // (core/face_pipeline.h). check_detect(): what detect() refuses (no
  // detector, bad options, a bad image), nothing computed; any thread.
  // detector_infer(): the raw outputs of n checked images,
  // detector_output_floats() each, serialised with embed().
  // decode_faces(): one image's outputs -> its faces, as detect() returns
  // them (a non-finite output -> MFN_NONFINITE); any thread. align_faces(): drops the faces whose landmarks give
  // no usable alignment and gives, per face kept, `image` aligned on it
  // (landmarks pointing into *faces: keep it unchanged while they are used).
  Status check_detect(const ImageInput& image, const DetectOptions& options) const;
  Status detector_infer(const ImageInput* images, size_t n, float* out);
  Status decode_faces(const ImageInput& image, const float* outputs, const DetectOptions& options,
                      std::vector<Face>* faces) const;
  void align_faces(const ImageInput& image, std::vector<Face>* faces, std::vector<ImageInput>* aligned) const;
  size_t detector_output_floats() const;  // 0 without a detector
  int detector_max_batch() const;         // photos per detector pass; 0 without a detector

  bool has_detector() const;
  // The detector's input tensor of one image (NCHW, detector_input_size()^2
  // x 3, the letterboxed photo as the network sees it) and its raw outputs
  // (each NHWC, in the manifest's order, concatenated): for parity tests
  // against other runtimes.
  Status detector_input(const ImageInput& image, std::vector<float>* out) const;
  Status detector_outputs(const ImageInput& image, std::vector<float>* out);
  int detector_input_size() const;  // 0 without a detector

  const std::string& backend_name() const;
  const std::string& fallback_reason() const;  // why not CUDA; empty if none
  // The detector's backend ("" without a detector): CUDA when the
  // embeddings run there and the plugin takes the detector, else the CPU,
  // and then why not CUDA (empty when the embeddings are on the CPU too).
  std::string detector_backend_name() const;
  std::string detector_fallback_reason() const;
  int dimensions() const;
  int input_channels() const;
  int input_height() const;
  int input_width() const;
  int max_batch() const;
  mfn_stage_times last_timings() const;

 private:
  Engine();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mfn
