// The CPU backend end to end on a random MobileFaceNet-shaped plan: embed()
// against preprocess_image + naive convolutions, with and without flip, for
// 1..3 threads (image-parallel and layer-split paths), results identical
// whatever the thread count or batch split, bad images and plans rejected.
#include <cmath>
#include <cstdio>
#include <random>
#include <vector>

#include "core/preprocess.h"
#include "cpu/backend_cpu.h"
#include "mfn/engine.h"
#include "tests/check.h"
#include "tests/conv_reference.h"

namespace {

struct TestImage {
  std::vector<uint8_t> pixels;
  mfn_image image{};
};

TestImage make_image(std::mt19937& rng, int w, int h, int channels, mfn_pixel_order order, size_t pad, int model_side,
                     bool rotate) {
  TestImage t;
  const size_t stride = static_cast<size_t>(w) * channels + pad;
  t.pixels.resize(stride * h);
  // Smooth content plus noise, like a photo.
  std::uniform_int_distribution<int> noise(-20, 20);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) {
        const int v = 128 + static_cast<int>(90 * std::sin(0.07 * x * (c + 1) + 0.05 * y)) + noise(rng);
        t.pixels[y * stride + x * channels + c] = static_cast<uint8_t>(std::min(255, std::max(0, v)));
      }
  mfn_image& im = t.image;
  im.width = w;
  im.height = h;
  im.channels = channels;
  im.order = order;
  im.row_stride = stride;
  if (rotate) {
    // A similarity like face alignment produces: rotation, scale, shift.
    const float a = 0.9f * std::cos(0.3f), b = 0.9f * std::sin(0.3f);
    const float t6[6] = {a, -b, 10.0f, b, a, -5.0f};
    std::copy(t6, t6 + 6, im.transform);
    im.border = MFN_BORDER_ZERO;
  } else {
    mfn::resize_transform(w, h, model_side, model_side, im.transform);
    im.border = MFN_BORDER_CLAMP;
  }
  return t;
}

std::vector<float> reference(const mfn_plan& plan, const mfn_image& im, bool flip) {
  const mfn_tensor_desc& d = plan.tensors[0];
  std::vector<float> input(static_cast<size_t>(d.c) * d.h * d.w);
  mfn::preprocess_image(im, plan, false, input.data());
  std::vector<float> e = mfn_test::naive_network(plan, input.data());
  if (flip) {
    mfn::preprocess_image(im, plan, true, input.data());
    const std::vector<float> m = mfn_test::naive_network(plan, input.data());
    for (size_t i = 0; i < e.size(); ++i) e[i] += m[i];
  }
  double sum = 0;
  for (float v : e) sum += static_cast<double>(v) * v;
  for (float& v : e) v = static_cast<float>(v / std::sqrt(sum));
  return e;
}

std::unique_ptr<mfn::Backend> make(const mfn_plan& plan, int threads, int max_batch = 256) {
  mfn_backend_config config{};
  config.threads = threads;
  config.max_batch = max_batch;
  mfn::Status status;
  std::unique_ptr<mfn::Backend> b = mfn::make_cpu_backend(plan, config, &status);
  REQUIRE(status.is_ok() && b);
  return b;
}

}  // namespace

int main() {
  constexpr int kSide = 64;
  mfn_test::SyntheticPlan sp;
  mfn_test::build_mobilefacenet(&sp, kSide, 128);
  const mfn_plan& plan = sp.plan;
  const size_t dims = 128;

  std::mt19937 rng(7);
  std::vector<TestImage> images;
  images.push_back(make_image(rng, kSide, kSide, 3, MFN_ORDER_BGR, 0, kSide, false));   // identity
  images.push_back(make_image(rng, 90, 75, 3, MFN_ORDER_RGB, 5, kSide, false));         // resize
  images.push_back(make_image(rng, 80, 80, 4, MFN_ORDER_BGR, 3, kSide, true));          // aligned, RGBA
  std::vector<mfn_image> batch;
  for (auto& t : images) {
    t.image.data = t.pixels.data();
    batch.push_back(t.image);
  }

  // Reference embeddings.
  std::vector<std::vector<float>> expect[2];
  for (int flip = 0; flip < 2; ++flip)
    for (const mfn_image& im : batch) expect[flip].push_back(reference(plan, im, flip != 0));

  // One threads bound (include/mfn/engine.h): more than kMaxThreads is
  // refused, never capped silently.
  {
    mfn_backend_config config{};
    config.threads = mfn::kMaxThreads + 1;
    config.max_batch = 1;
    mfn::Status status;
    CHECK(mfn::make_cpu_backend(plan, config, &status) == nullptr);
    CHECK(status.code() == mfn::Code::invalid_argument);
  }

  std::vector<float> first_run[2];
  for (int threads = 1; threads <= 3; ++threads) {
    std::unique_ptr<mfn::Backend> backend = make(plan, threads, 7);
    CHECK(backend->max_batch() == 7);
    CHECK(std::string(backend->name()) == "cpu");
    for (int flip = 0; flip < 2; ++flip) {
      // n = 1 (layer-split with several threads), then all three.
      for (size_t n : {size_t{1}, batch.size()}) {
        std::vector<float> out(n * dims, std::nanf(""));
        mfn::Status s = backend->embed(batch.data(), n, flip != 0, out.data());
        REQUIRE(s.is_ok());
        for (size_t i = 0; i < n; ++i) {
          double worst = 0, norm = 0;
          for (size_t d = 0; d < dims; ++d) {
            const float v = out[i * dims + d];
            worst = std::max(worst, std::fabs(static_cast<double>(v) - expect[flip][i][d]));
            norm += static_cast<double>(v) * v;
          }
          CHECK_MSG(worst < 1e-5, "threads %d flip %d n %zu image %zu: max diff %g", threads, flip, n, i, worst);
          CHECK_MSG(std::fabs(norm - 1.0) < 1e-5, "norm %g", norm);
        }
        if (n == batch.size()) {
          if (threads == 1) first_run[flip] = out;
          else CHECK_MSG(out == first_run[flip], "threads %d flip %d: not bit-identical to 1 thread", threads, flip);
        }
      }
    }
    const mfn_stage_times t = backend->last_timings();
    CHECK(t.preprocess_ms > 0 && t.compute_ms > 0);
  }

  // A batch bigger than one internal chunk (64 passes): 45 images with flip,
  // identical to embedding them one by one.
  {
    std::unique_ptr<mfn::Backend> backend = make(plan, 2);
    std::vector<mfn_image> many;
    for (int i = 0; i < 45; ++i) many.push_back(batch[i % batch.size()]);
    std::vector<float> all(many.size() * dims);
    REQUIRE(backend->embed(many.data(), many.size(), true, all.data()).is_ok());
    for (size_t i = 0; i < many.size(); ++i)
      for (size_t d = 0; d < dims; ++d)
        CHECK_MSG(all[i * dims + d] == first_run[1][(i % batch.size()) * dims + d], "image %zu differs", i);
  }

  // Bad images are rejected and nothing crashes.
  {
    std::unique_ptr<mfn::Backend> backend = make(plan, 2);
    std::vector<float> out(dims);
    mfn_image bad = batch[0];
    bad.data = nullptr;
    CHECK(backend->embed(&bad, 1, false, out.data()).code() == mfn::Code::invalid_argument);
    bad = batch[0];
    bad.channels = 2;
    CHECK(backend->embed(&bad, 1, false, out.data()).code() == mfn::Code::invalid_channels);
    bad = batch[0];
    bad.width = 0;
    CHECK(backend->embed(&bad, 1, false, out.data()).code() == mfn::Code::invalid_dimensions);
    bad = batch[0];
    bad.row_stride = 3;
    CHECK(backend->embed(&bad, 1, false, out.data()).code() == mfn::Code::invalid_argument);
    bad = batch[0];
    bad.transform[0] = std::nanf("");
    bad.transform[4] = INFINITY;
    CHECK(backend->embed(&bad, 1, true, out.data()).is_ok());
    CHECK(backend->embed(batch.data(), 0, false, out.data()).is_ok());
  }

  // Inconsistent plans are rejected at create.
  {
    mfn_backend_config config{};
    config.threads = 1;
    config.max_batch = 4;
    std::vector<mfn_conv_layer> layers = sp.layers;
    mfn_plan bad = plan;
    bad.layers = layers.data();
    layers[3].in_c += 1;
    mfn::Status status;
    CHECK(!mfn::make_cpu_backend(bad, config, &status) && status.code() == mfn::Code::model_invalid);
    layers = sp.layers;
    layers[5].input = layers[9].output;  // read before written
    CHECK(!mfn::make_cpu_backend(bad, config, &status) && status.code() == mfn::Code::model_invalid);
    layers = sp.layers;
    layers[2].out_h += 1;
    CHECK(!mfn::make_cpu_backend(bad, config, &status) && status.code() == mfn::Code::model_invalid);
    bad = plan;
    bad.output = 1;
    CHECK(!mfn::make_cpu_backend(bad, config, &status) && status.code() == mfn::Code::model_invalid);
  }

  std::printf("%d failures\n", mfn_test::failures());
  return mfn_test::test_exit_code();
}
