// The CUDA backend against the CPU backend (the reference) on real LFW
// crops, through the public C++ API only: every embedding must have cosine
// >= 0.9995 with the CPU's, with flip on and off, at batch sizes 1, 7, 64
// and 256, resized and aligned with landmarks, for strided sub-images and
// RGBA input. Skips (exit 77) with the reason when the CUDA backend is
// unavailable; on a machine where it is available, missing crops fail.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "mfn/engine.h"
#include "tests/check.h"
#include "tests/test_data.h"

namespace {

constexpr double kMinCosine = 0.9995;
constexpr size_t kCrops = 256;

struct Config {
  std::string name;
  std::vector<mfn::ImageInput> images;
};

std::unique_ptr<mfn::Engine> make_engine(mfn::BackendChoice backend, int max_batch, mfn::Status* status) {
  mfn::EngineOptions options;
  options.model_path = mfn_test::model_path();
  options.backend = backend;
  options.max_batch = max_batch;
  options.plugin_dir = mfn_test::plugin_dir();
  std::unique_ptr<mfn::Engine> engine;
  *status = mfn::Engine::create(options, &engine);
  return engine;
}

std::vector<float> embed_all(mfn::Engine& engine, const std::vector<mfn::ImageInput>& images, size_t batch, bool flip) {
  const size_t dims = static_cast<size_t>(engine.dimensions());
  std::vector<float> out(images.size() * dims, NAN);
  for (size_t first = 0; first < images.size(); first += batch) {
    const size_t count = std::min(batch, images.size() - first);
    const mfn::Status s = engine.embed(images.data() + first, count, flip, out.data() + first * dims);
    CHECK_MSG(s.is_ok(), "%s embed failed: %s", engine.backend_name().c_str(), s.message().c_str());
  }
  return out;
}

// Worst cosine over all rows; prints the rows below the bound.
double compare(const std::vector<float>& ref, const std::vector<float>& got, size_t dims, const std::string& label) {
  double worst = 1.0;
  int reported = 0;
  for (size_t i = 0; i * dims < ref.size(); ++i) {
    double dot = 0, na = 0, nb = 0;
    for (size_t j = 0; j < dims; ++j) {
      const double a = ref[i * dims + j], b = got[i * dims + j];
      dot += a * b, na += a * a, nb += b * b;
    }
    const double cosine = dot / std::sqrt(na * nb);
    if (!(cosine >= kMinCosine) && reported++ < 5) std::printf("  %s: image %zu cosine %.6f\n", label.c_str(), i, cosine);
    CHECK(std::fabs(std::sqrt(nb) - 1.0) < 1e-3);
    if (!(cosine >= worst)) worst = cosine;  // NaN counts as worst
  }
  CHECK_MSG(worst >= kMinCosine, "%s: worst cosine %.6f < %.4f", label.c_str(), worst, kMinCosine);
  return worst;
}

}  // namespace

int main() {
  mfn::Status status;
  std::unique_ptr<mfn::Engine> gpu = make_engine(mfn::BackendChoice::cuda, 256, &status);
  if (!status.is_ok()) {
    if (status.code() == mfn::Code::backend_unavailable) {
      std::printf("CUDA backend unavailable: %s\n", status.message().c_str());
      mfn_test::skip("no usable CUDA device");
    }
    std::printf("creating the CUDA engine failed: %s: %s\n", mfn::code_name(status.code()), status.message().c_str());
    return 1;
  }
  REQUIRE(gpu->backend_name() == "cuda");

  mfn_test::Crops crops;
  std::string reason;
  if (!mfn_test::load_crops(&crops, &reason)) {
    std::printf("a CUDA device is present but the test crops are not: %s\n", reason.c_str());
    return 1;
  }
  REQUIRE(crops.pixels.size() >= kCrops);
  std::unique_ptr<mfn::Engine> cpu = make_engine(mfn::BackendChoice::cpu, 256, &status);
  REQUIRE(status.is_ok());
  const size_t dims = static_cast<size_t>(cpu->dimensions());
  REQUIRE(gpu->dimensions() == cpu->dimensions());

  // Inputs: the crops resized, aligned with their landmarks, a strided
  // sub-image of each, and RGBA copies.
  const int w = crops.width, h = crops.height, c = crops.channels;
  std::vector<std::vector<uint8_t>> rgba(kCrops);
  Config resized{"resized", {}}, aligned{"aligned", {}}, strided{"strided", {}}, rgba_cfg{"rgba", {}};
  for (size_t i = 0; i < kCrops; ++i) {
    mfn::ImageInput im;
    im.data = crops.pixels[i].data();
    im.size = crops.pixels[i].size();
    im.width = w, im.height = h, im.channels = c;
    im.order = MFN_ORDER_BGR;
    resized.images.push_back(im);
    mfn::ImageInput al = im;
    al.landmarks = crops.landmarks[i].data();
    aligned.images.push_back(al);
    mfn::ImageInput sub = im;  // the centre (w-24) x (h-24), read in place through the row stride
    sub.data = im.data + (12 * static_cast<size_t>(w) + 12) * c;
    sub.size = im.size - (12 * static_cast<size_t>(w) + 12) * c;
    sub.width = w - 24, sub.height = h - 24;
    sub.row_stride = static_cast<size_t>(w) * c;
    strided.images.push_back(sub);
    rgba[i].resize(static_cast<size_t>(w) * h * 4);
    for (int p = 0; p < w * h; ++p) {
      rgba[i][p * 4 + 0] = crops.pixels[i][p * c + 2];
      rgba[i][p * 4 + 1] = crops.pixels[i][p * c + 1];
      rgba[i][p * 4 + 2] = crops.pixels[i][p * c + 0];
      rgba[i][p * 4 + 3] = 255;
    }
    mfn::ImageInput ra = im;
    ra.data = rgba[i].data();
    ra.size = rgba[i].size();
    ra.channels = 4;
    ra.order = MFN_ORDER_RGB;
    ra.landmarks = crops.landmarks[i].data();
    rgba_cfg.images.push_back(ra);
  }

  double overall = 1.0;
  for (const Config* config : {&resized, &aligned}) {
    for (bool flip : {false, true}) {
      const std::vector<float> ref = embed_all(*cpu, config->images, 256, flip);
      for (size_t batch : {1, 7, 64, 256}) {
        const std::string label = config->name + " flip=" + (flip ? "on" : "off") + " batch=" + std::to_string(batch);
        const double worst = compare(ref, embed_all(*gpu, config->images, batch, flip), dims, label);
        std::printf("%-32s worst cosine %.6f\n", label.c_str(), worst);
        overall = std::min(overall, worst);
      }
    }
  }
  for (const Config* config : {&strided, &rgba_cfg}) {
    const bool flip = true;
    const std::string label = config->name + " flip=on batch=64";
    const double worst = compare(embed_all(*cpu, config->images, 256, flip), embed_all(*gpu, config->images, 64, flip),
                                 dims, label);
    std::printf("%-32s worst cosine %.6f\n", label.c_str(), worst);
    overall = std::min(overall, worst);
  }
  const mfn_stage_times times = gpu->last_timings();
  CHECK(times.compute_ms > 0.0);

  // A max_batch that is not a power of two caps the graph buckets.
  std::unique_ptr<mfn::Engine> gpu48 = make_engine(mfn::BackendChoice::cuda, 48, &status);
  REQUIRE(status.is_ok());
  {
    const std::string label = "aligned flip=on max_batch=48 batch=100";
    const double worst = compare(embed_all(*cpu, aligned.images, 256, true), embed_all(*gpu48, aligned.images, 100, true),
                                 dims, label);
    std::printf("%-32s worst cosine %.6f\n", label.c_str(), worst);
    overall = std::min(overall, worst);
  }

  std::printf("worst cosine overall: %.6f (bound %.4f)\n", overall, kMinCosine);
  return mfn_test::test_exit_code();
}
