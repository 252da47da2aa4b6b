// The detector's raw outputs on the CUDA plugin against the CPU backend, for
// cuda_parity_test. The detector (models/blazeface_back_256.onnx) is lowered
// by the engine and both backends are made as the engine makes them
// (make_cpu_backend, load_cuda_backend), below the public API, which routes
// detection to the CPU. The photos are real LFW faces letterboxed into the
// detector input as the engine does it (border zero): each crop (square,
// scaled up), and crops side by side in pairs (2:1, zero bands above and
// below). Every output tensor of every photo is compared value by value:
// |cuda - cpu| <= kDetectorTolerance * max(1, max |cpu| over that tensor),
// a bound for FP16 activations through about 40 layers.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/backend_registry.h"
#include "core/detection.h"
#include "core/model.h"
#include "cpu/backend_cpu.h"
#include "tests/check.h"
#include "tests/test_data.h"

namespace mfn_test {

constexpr double kDetectorTolerance = 2e-2;

struct DetectorRun {
  std::string label;
  double max_abs_diff = 0;  // over every output value of every photo
  double max_rel_diff = 0;  // |difference| / max(1, max |cpu| of its tensor)
};

// Photos of crops [0, n) and pairs of crops (2i, 2i+1) for i < pairs, as
// the detector's letterboxed mfn_images; `pixels` keeps the pairs' pixels.
struct DetectorPhotos {
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<mfn_image> images;
};

inline mfn_image letterboxed(const uint8_t* data, int width, int height, int size) {
  mfn_image im{};
  im.data = data;
  im.width = width, im.height = height, im.channels = 3;
  im.order = MFN_ORDER_BGR;
  im.row_stride = static_cast<size_t>(width) * 3;
  im.border = MFN_BORDER_ZERO;
  const mfn::Letterbox box = mfn::letterbox(width, height, size);
  REQUIRE(mfn::shrink_factor(box) == 1);  // photos this small are sampled as they are
  mfn::letterbox_transform(box, 1, im.transform);
  return im;
}

inline DetectorPhotos detector_photos(const Crops& crops, size_t n, size_t pairs, int size) {
  DetectorPhotos out;
  const int w = crops.width, h = crops.height;
  out.pixels.resize(pairs);
  for (size_t i = 0; i < n; ++i) out.images.push_back(letterboxed(crops.pixels[i].data(), w, h, size));
  for (size_t i = 0; i < pairs; ++i) {
    out.pixels[i] = side_by_side(crops, 2 * i, 2 * i + 1);
    out.images.push_back(letterboxed(out.pixels[i].data(), 2 * w, h, size));
  }
  return out;
}

// Compares photo by photo and tensor by tensor; checks the bound and
// prints the run's worst figures.
inline DetectorRun compare_outputs(const mfn_plan& plan, const std::vector<float>& ref, const std::vector<float>& got,
                                   const std::string& label) {
  DetectorRun run{label};
  size_t at = 0;
  while (at < ref.size()) {
    for (int k = 0; k < plan.num_outputs; ++k) {
      const mfn_tensor_desc& d = plan.tensors[plan.outputs[k]];
      const size_t count = static_cast<size_t>(d.c) * d.h * d.w;
      double scale = 1;
      for (size_t j = at; j < at + count; ++j) scale = std::max(scale, std::fabs(double(ref[j])));
      for (size_t j = at; j < at + count; ++j) {
        const double diff = std::fabs(double(ref[j]) - got[j]);
        if (!(diff <= run.max_abs_diff)) run.max_abs_diff = diff;  // NaN counts as worst
        if (!(diff / scale <= run.max_rel_diff)) run.max_rel_diff = diff / scale;
      }
      at += count;
    }
  }
  CHECK_MSG(run.max_rel_diff <= kDetectorTolerance, "%s: max relative difference %.5f > %.3f", label.c_str(),
            run.max_rel_diff, kDetectorTolerance);
  std::printf("%-44s max |difference| %.5f, relative %.6f\n", label.c_str(), run.max_abs_diff, run.max_rel_diff);
  return run;
}

// The detector on `photos` crops (and half as many pairs, at most 16) in
// calls of each of `batches` images on a CUDA backend of max_batch, and in
// one call of every photo (beyond max_batch when there are more), against
// the CPU.
inline std::vector<DetectorRun> detector_parity(const Crops& crops, size_t photos, const std::vector<size_t>& batches,
                                                int max_batch) {
  mfn::Model model;
  mfn::Status s = mfn::load_model(detector_path(), std::string(MFN_REPO_ROOT) + "/models/detector.json", &model);
  REQUIRE_MSG(s.is_ok(), "detector: %s", s.message().c_str());
  const mfn_plan& plan = model.plan;
  const mfn_backend_config config{0, max_batch, 0};
  std::unique_ptr<mfn::Backend> cpu = mfn::make_cpu_backend(plan, config, &s);
  REQUIRE_MSG(cpu && s.is_ok(), "detector on the CPU: %s", s.message().c_str());
  std::unique_ptr<mfn::Backend> gpu;
  s = mfn::load_cuda_backend(plugin_dir(), plan, config, &gpu);
  REQUIRE_MSG(s.is_ok(), "detector on CUDA: %s: %s", mfn::code_name(s.code()), s.message().c_str());
  const DetectorPhotos in = detector_photos(crops, photos, std::min<size_t>(photos / 2, 16), plan.tensors[0].w);
  const size_t n = in.images.size();
  size_t floats = 0;
  for (int k = 0; k < plan.num_outputs; ++k) {
    const mfn_tensor_desc& d = plan.tensors[plan.outputs[k]];
    floats += static_cast<size_t>(d.c) * d.h * d.w;
  }
  std::vector<float> ref(n * floats, NAN);
  s = cpu->infer(in.images.data(), n, ref.data());
  REQUIRE_MSG(s.is_ok(), "detector on the CPU: %s", s.message().c_str());

  std::vector<DetectorRun> runs;
  std::vector<size_t> sizes;
  for (size_t b : batches) sizes.push_back(std::min<size_t>(b, static_cast<size_t>(max_batch)));
  sizes.push_back(n);
  for (size_t batch : sizes) {
    std::vector<float> got(n * floats, NAN);
    for (size_t first = 0; first < n; first += batch) {
      const size_t count = std::min(batch, n - first);
      s = gpu->infer(in.images.data() + first, count, got.data() + first * floats);
      CHECK_MSG(s.is_ok(), "detector on CUDA, batch %zu: %s", batch, s.message().c_str());
    }
    runs.push_back(compare_outputs(plan, ref, got, "detector " + std::to_string(n) + " photos batch=" +
                                                       std::to_string(batch) + " max_batch=" + std::to_string(max_batch)));
  }
  CHECK(gpu->last_timings().compute_ms > 0.0);
  // The other entry point is refused on a detector.
  std::vector<float> embedding(512);
  CHECK(gpu->embed(in.images.data(), 1, false, embedding.data()).code() == mfn::Code::invalid_argument);
  return runs;
}

}  // namespace mfn_test
