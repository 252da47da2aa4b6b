// libmfn_cuda.so through its C ABI, the way the engine loads it (dlopen +
// dlsym), without the engine. Everywhere: API version, score 0 with a reason
// when no GPU is usable, invalid plans rejected before any device work,
// null handles. With a GPU: every kernel family (stem, depthwise s1/s2 and
// GDConv, tensor-core 1x1 and dense GEMM with residual before/after the
// activation, generic grouped/dilated conv, MaxPool) on small random networks
// against a naive FP32 reference written here, with depthwise layers fused
// into the following GEMM and not, for mixed image sizes, transforms,
// borders, channel orders, flip, and batch sizes that exercise chunking,
// padding to graph buckets and the two pipeline slots; a network with raw
// outputs through mfn_backend_infer (images sharing one pixel buffer among
// them); then error recovery.
#include <dlfcn.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "mfn/abi.h"
#include "tests/check.h"
#include "tests/cuda_test_net.h"
#include "tests/test_data.h"

namespace {

struct Api {
  mfn_backend_api_version_fn version = nullptr;
  mfn_backend_score_fn score = nullptr;
  mfn_backend_create_fn create = nullptr;
  mfn_backend_embed_fn embed = nullptr;
  mfn_backend_infer_fn infer = nullptr;
  mfn_backend_timings_fn timings = nullptr;
  mfn_backend_destroy_fn destroy = nullptr;
};

// ---- a small network and its FP32 reference -------------------------------

using Net = mfn_test::RandomNet;

// mfn_image sampling as abi.h defines it, into NCHW float (3 planes).
std::vector<float> reference_input(const mfn_image& im, const mfn_plan& plan, bool mirror) {
  const int h = plan.tensors[0].h, w = plan.tensors[0].w;
  std::vector<float> out(3 * static_cast<size_t>(h) * w);
  const auto pixel = [&](int x, int y, int c) -> float {
    if (x < 0 || y < 0 || x >= im.width || y >= im.height) {
      if (im.border == MFN_BORDER_ZERO) return 0.f;
      x = std::min(std::max(x, 0), im.width - 1);
      y = std::min(std::max(y, 0), im.height - 1);
    }
    return im.data[static_cast<size_t>(y) * im.row_stride + static_cast<size_t>(x) * im.channels + c];
  };
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const float dx = static_cast<float>(mirror ? w - 1 - x : x), dy = static_cast<float>(y);
      const float* t = im.transform;
      const float sx = t[0] * dx + t[1] * dy + t[2], sy = t[3] * dx + t[4] * dy + t[5];
      const int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
      const float ax = sx - x0, ay = sy - y0;
      for (int k = 0; k < 3; ++k) {
        const int rgb = plan.channel_src[k];
        const int c = im.order == MFN_ORDER_BGR ? 2 - rgb : rgb;
        const float top = pixel(x0, y0, c) * (1 - ax) + pixel(x0 + 1, y0, c) * ax;
        const float bottom = pixel(x0, y0 + 1, c) * (1 - ax) + pixel(x0 + 1, y0 + 1, c) * ax;
        out[(static_cast<size_t>(k) * h + y) * w + x] = (top * (1 - ay) + bottom * ay) * plan.input_scale[k] + plan.input_bias[k];
      }
    }
  }
  return out;
}

// A MaxPool layer in FP32, NCHW: the max over the taps inside the input.
std::vector<float> reference_maxpool(const mfn_conv_layer& l, const std::vector<float>& x) {
  std::vector<float> y(static_cast<size_t>(l.out_c) * l.out_h * l.out_w, -INFINITY);
  for (int c = 0; c < l.out_c; ++c)
    for (int oy = 0; oy < l.out_h; ++oy)
      for (int ox = 0; ox < l.out_w; ++ox)
        for (int ky = 0; ky < l.kernel_h; ++ky)
          for (int kx = 0; kx < l.kernel_w; ++kx) {
            const int iy = oy * l.stride_h - l.pad_top + ky, ix = ox * l.stride_w - l.pad_left + kx;
            if (iy < 0 || ix < 0 || iy >= l.in_h || ix >= l.in_w) continue;
            float& o = y[(static_cast<size_t>(c) * l.out_h + oy) * l.out_w + ox];
            o = std::max(o, x[(static_cast<size_t>(c) * l.in_h + iy) * l.in_w + ix]);
          }
  return y;
}

// Every tensor of the network in FP32, NCHW, one image.
std::vector<std::vector<float>> reference_tensors(const mfn_plan& plan, std::vector<float> input) {
  std::vector<std::vector<float>> t(plan.num_tensors);
  t[0] = std::move(input);
  for (int li = 0; li < plan.num_layers; ++li) {
    const mfn_conv_layer& l = plan.layers[li];
    const std::vector<float>& x = t[l.input];
    if (l.op == MFN_OP_MAXPOOL) {
      t[l.output] = reference_maxpool(l, x);
      continue;
    }
    std::vector<float> y(static_cast<size_t>(l.out_c) * l.out_h * l.out_w);
    const int cig = l.in_c / l.group, cog = l.out_c / l.group;
    for (int co = 0; co < l.out_c; ++co) {
      const int g = co / cog;
      for (int oy = 0; oy < l.out_h; ++oy) {
        for (int ox = 0; ox < l.out_w; ++ox) {
          double acc = l.bias[co];
          for (int ci = 0; ci < cig; ++ci)
            for (int ky = 0; ky < l.kernel_h; ++ky)
              for (int kx = 0; kx < l.kernel_w; ++kx) {
                const int iy = oy * l.stride_h - l.pad_top + ky * l.dilation_h;
                const int ix = ox * l.stride_w - l.pad_left + kx * l.dilation_w;
                if (iy < 0 || ix < 0 || iy >= l.in_h || ix >= l.in_w) continue;
                acc += double(x[(static_cast<size_t>(g * cig + ci) * l.in_h + iy) * l.in_w + ix]) *
                       l.weight[((static_cast<size_t>(co) * cig + ci) * l.kernel_h + ky) * l.kernel_w + kx];
              }
          float v = static_cast<float>(acc);
          const size_t o = (static_cast<size_t>(co) * l.out_h + oy) * l.out_w + ox;
          const float r = l.residual >= 0 ? t[l.residual][o] : 0.f;
          if (!l.residual_after_act) v += r;
          if (l.slope && v < 0) v *= l.slope[co];
          if (l.residual_after_act) v += r;
          y[o] = v;
        }
      }
    }
    t[l.output] = std::move(y);
  }
  return t;
}

std::vector<float> reference_forward(const mfn_plan& plan, std::vector<float> input) {
  return reference_tensors(plan, std::move(input))[plan.output];
}

// A raw-output network: each image's outputs NHWC, one after the other.
std::vector<float> reference_infer(const mfn_plan& plan, const std::vector<mfn_image>& images) {
  std::vector<float> out;
  for (const mfn_image& im : images) {
    const std::vector<std::vector<float>> t = reference_tensors(plan, reference_input(im, plan, false));
    for (int k = 0; k < plan.num_outputs; ++k) {
      const mfn_tensor_desc& d = plan.tensors[plan.outputs[k]];
      const std::vector<float>& v = t[plan.outputs[k]];
      for (int y = 0; y < d.h; ++y)
        for (int x = 0; x < d.w; ++x)
          for (int c = 0; c < d.c; ++c) out.push_back(v[(static_cast<size_t>(c) * d.h + y) * d.w + x]);
    }
  }
  return out;
}

std::vector<float> reference_embed(const mfn_plan& plan, const std::vector<mfn_image>& images, bool flip) {
  const size_t e = static_cast<size_t>(plan.embedding_size);
  std::vector<float> out(images.size() * e);
  for (size_t i = 0; i < images.size(); ++i) {
    std::vector<float> v = reference_forward(plan, reference_input(images[i], plan, false));
    if (flip) {
      const std::vector<float> m = reference_forward(plan, reference_input(images[i], plan, true));
      for (size_t j = 0; j < e; ++j) v[j] += m[j];
    }
    double norm = 0;
    for (float f : v) norm += double(f) * f;
    norm = std::sqrt(norm);
    for (size_t j = 0; j < e; ++j) out[i * e + j] = static_cast<float>(v[j] / norm);
  }
  return out;
}

// ---- test images ----------------------------------------------------------

struct Images {
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<mfn_image> list;
};

// Smooth random images (so that FP16 rounding does not dominate) of varied
// sizes, channel counts and orders, each with a different kind of transform.
Images make_images(size_t n, int model_w, int model_h, std::mt19937& rng) {
  Images out;
  out.pixels.resize(n);
  std::uniform_int_distribution<int> side(model_w / 2, model_w * 3);
  std::uniform_real_distribution<float> unit(0.f, 1.f);
  for (size_t i = 0; i < n; ++i) {
    mfn_image im{};
    im.width = (i % 5 == 0) ? model_w : side(rng);
    im.height = (i % 5 == 0) ? model_h : side(rng);
    im.channels = (i % 3 == 2) ? 4 : 3;
    im.order = (i % 2) ? MFN_ORDER_RGB : MFN_ORDER_BGR;
    im.row_stride = static_cast<size_t>(im.width) * im.channels + (i % 4 == 3 ? 5 : 0);
    std::vector<uint8_t>& px = out.pixels[i];
    px.resize(im.row_stride * im.height);
    const float f1 = 0.05f + 0.3f * unit(rng), f2 = 0.05f + 0.3f * unit(rng), ph = 6.f * unit(rng);
    for (int y = 0; y < im.height; ++y)
      for (int x = 0; x < im.width; ++x)
        for (int c = 0; c < im.channels; ++c)
          px[y * im.row_stride + x * im.channels + c] =
              static_cast<uint8_t>(127.5f + 120.f * std::sin(f1 * x + f2 * y * (c + 1) + ph + c));
    im.data = px.data();
    float* t = im.transform;
    switch (i % 5) {
      case 0:  // the model size: identity
        t[0] = 1, t[1] = 0, t[2] = 0, t[3] = 0, t[4] = 1, t[5] = 0;
        im.border = MFN_BORDER_CLAMP;
        break;
      case 1:
      case 3: {  // resize, pixel centres aligned
        const float sx = float(im.width) / model_w, sy = float(im.height) / model_h;
        t[0] = sx, t[1] = 0, t[2] = 0.5f * sx - 0.5f, t[3] = 0, t[4] = sy, t[5] = 0.5f * sy - 0.5f;
        im.border = MFN_BORDER_CLAMP;
        break;
      }
      default: {  // rotation + scale + shift that leaves the image in part: both borders
        const float a = 0.6f * (unit(rng) - 0.5f), s = 0.5f + unit(rng);
        t[0] = s * std::cos(a), t[1] = -s * std::sin(a), t[2] = im.width * 0.5f * unit(rng) - 4;
        t[3] = s * std::sin(a), t[4] = s * std::cos(a), t[5] = im.height * 0.5f * unit(rng) - 4;
        im.border = (i % 5 == 2) ? MFN_BORDER_ZERO : MFN_BORDER_CLAMP;
        break;
      }
    }
    out.list.push_back(im);
  }
  return out;
}

double worst_cosine(const std::vector<float>& a, const std::vector<float>& b, size_t e) {
  double worst = 1.0;
  for (size_t i = 0; i * e < a.size(); ++i) {
    double dot = 0, na = 0, nb = 0;
    for (size_t j = 0; j < e; ++j) dot += double(a[i * e + j]) * b[i * e + j], na += double(a[i * e + j]) * a[i * e + j], nb += double(b[i * e + j]) * b[i * e + j];
    const double c = dot / std::sqrt(na * nb);
    if (!(c >= worst)) worst = c;
  }
  return worst;
}

// ---- the networks ---------------------------------------------------------

// Stem, depthwise s1/s2, expand/project GEMMs with a residual, GDConv, final 1x1.
Net mobile_net() {
  Net n;
  const int x = n.tensor(3, 20, 20);
  const int stem = n.conv(x, 16, 3, 2, 1, 1, true);          // 16x10x10
  const int dw = n.conv(stem, 16, 3, 1, 1, 16, true);
  const int ex = n.conv(dw, 64, 1, 1, 0, 1, true);
  const int dws2 = n.conv(ex, 64, 3, 2, 1, 64, true);        // 64x5x5
  const int pr = n.conv(dws2, 16, 1, 1, 0, 1, false);
  const int ex2 = n.conv(pr, 64, 1, 1, 0, 1, true);
  const int dw2 = n.conv(ex2, 64, 3, 1, 1, 64, true);
  const int pr2 = n.conv(dw2, 16, 1, 1, 0, 1, false, pr, false);
  const int gd = n.conv(pr2, 16, 5, 1, 0, 16, false);        // GDConv 5x5 -> 1x1
  n.output = n.conv(gd, 32, 1, 1, 0, 1, false);
  return n;
}

// Multi-tile GEMMs: K up to 512, N = 136 (a partial N tile), M not a multiple
// of the tile, residual after the activation, and a dense layer over 7x7x136.
Net wide_net() {
  Net n;
  const int x = n.tensor(3, 14, 14);
  const int a = n.conv(x, 32, 3, 2, 1, 1, true);             // 32x7x7
  const int b = n.conv(a, 256, 1, 1, 0, 1, true);
  const int c = n.conv(b, 512, 1, 1, 0, 1, true);
  const int d = n.conv(c, 256, 1, 1, 0, 1, true, b, true);   // act(conv) + b
  const int e = n.conv(d, 136, 1, 1, 0, 1, true);
  n.output = n.conv(e, 40, 7, 1, 0, 1, false);               // dense: 7x7 kernel over 7x7
  return n;
}

// Layers only the generic kernel covers: 6 output channels, grouped and
// dilated convs, a dense layer over 12 channels.
Net generic_net() {
  Net n;
  const int x = n.tensor(3, 9, 9);
  const int a = n.conv(x, 6, 5, 2, 2, 1, true);              // 6x5x5 (not a multiple of 8: generic)
  const int b = n.conv(a, 12, 3, 1, 2, 3, true, -1, false, 2);  // group 3, dilation 2
  n.output = n.conv(b, 10, 5, 1, 0, 1, false);               // dense over 12 channels: generic
  return n;
}

// A backend for `plan` on device 0, or null after a failed check.
void* create_checked(const Api& api, const char* name, const mfn_plan& plan, int max_batch) {
  mfn_backend_config config{0, max_batch, 0};
  int32_t code = -1;
  char err[512] = {0};
  void* handle = api.create(&plan, &config, &code, err, sizeof(err));
  CHECK_MSG(handle && code == MFN_OK, "%s: create failed (%d): %s", name, code, err);
  return handle;
}

// A detector-shaped network with raw outputs: stem, MaxPool 2x2/s2 (and a
// 3x3/s1 one with padding over 12 channels: the one-channel path), a
// depthwise s2 + 1x1 with the pool as residual, a channel-padding identity
// conv, outputs of 2, 12 and 16 channels.
Net raw_net() {
  Net n;
  const int x = n.tensor(3, 24, 24);
  const int stem = n.conv(x, 16, 5, 2, 2, 1, true);          // 16x12x12
  const int pool = n.maxpool(stem, 2, 2, 0);                 // 16x6x6
  const int dw = n.conv(stem, 16, 3, 2, 1, 16, false);       // 16x6x6
  const int block = n.conv(dw, 16, 1, 1, 0, 1, true, pool);
  const int odd = n.conv(block, 12, 1, 1, 0, 1, true);       // generic (12 channels)
  const int pool12 = n.maxpool(odd, 3, 1, 1);                // 12x6x6, one channel per thread
  const int wide = n.conv(block, 24, 1, 1, 0, 1, false);     // 16 -> 24 (a padding conv's shape)
  const int scores = n.conv(wide, 2, 1, 1, 0, 1, false);     // generic
  n.raw_outputs = {scores, pool12, block};
  return n;
}

// The raw outputs through mfn_backend_infer against the FP32 reference,
// with some images sharing one pixel buffer (several crops of one photo).
void check_raw_network(const Api& api, const char* name, Net net, int max_batch, const std::vector<size_t>& sizes) {
  const mfn_plan plan = net.plan();
  void* handle = create_checked(api, name, plan, max_batch);
  if (!handle) return;
  char err[512] = {0};
  size_t floats = 0;
  for (int k = 0; k < plan.num_outputs; ++k) {
    const mfn_tensor_desc& d = plan.tensors[plan.outputs[k]];
    floats += static_cast<size_t>(d.c) * d.h * d.w;
  }
  std::mt19937 rng(7);
  for (size_t n : sizes) {
    Images images = make_images(n, plan.tensors[0].w, plan.tensors[0].h, rng);
    for (size_t i = 3; i < n; i += 3) {  // every third image: a shifted view of the one before
      images.list[i] = images.list[i - 1];
      images.list[i].transform[2] += 2.5f;
    }
    std::vector<float> got(n * floats, NAN);
    const int32_t rc = api.infer(handle, images.list.data(), n, got.data(), err, sizeof(err));
    CHECK_MSG(rc == MFN_OK, "%s: infer of %zu failed (%d): %s", name, n, rc, err);
    const std::vector<float> ref = reference_infer(plan, images.list);
    double scale = 0, worst = 0;
    for (float v : ref) scale = std::max(scale, std::fabs(double(v)));
    for (size_t j = 0; j < ref.size(); ++j) {
      const double d = std::fabs(double(ref[j]) - got[j]);
      if (!(d <= worst)) worst = d;  // NaN counts as worst
    }
    std::printf("%-8s n=%-4zu max_batch=%-4d max |difference| %.5f (outputs up to %.3f)\n", name, n, max_batch, worst, scale);
    CHECK_MSG(worst <= 1e-2 * std::max(1.0, scale), "%s n=%zu: max |difference| %.5f", name, n, worst);
  }
  // The other entry point is refused, and the handle still works.
  Images images = make_images(2, plan.tensors[0].w, plan.tensors[0].h, rng);
  std::vector<float> out(2 * floats);
  CHECK(api.embed(handle, images.list.data(), 2, 0, out.data(), err, sizeof(err)) == MFN_E_INVALID_ARGUMENT && err[0]);
  CHECK(api.infer(handle, images.list.data(), 2, out.data(), err, sizeof(err)) == MFN_OK);
  api.destroy(handle);
}

void check_network(const Api& api, const char* name, Net net, int max_batch, const std::vector<size_t>& sizes) {
  const mfn_plan plan = net.plan();
  void* handle = create_checked(api, name, plan, max_batch);
  if (!handle) return;
  char err[512] = {0};
  std::mt19937 rng(99);
  const size_t e = static_cast<size_t>(plan.embedding_size);
  for (size_t n : sizes) {
    const Images images = make_images(n, plan.tensors[0].w, plan.tensors[0].h, rng);
    for (bool flip : {false, true}) {
      std::vector<float> got(n * e, NAN);
      const int32_t rc = api.embed(handle, images.list.data(), n, flip ? 1 : 0, got.data(), err, sizeof(err));
      CHECK_MSG(rc == MFN_OK, "%s: embed of %zu failed (%d): %s", name, n, rc, err);
      const double worst = worst_cosine(reference_embed(plan, images.list, flip), got, e);
      std::printf("%-8s n=%-4zu flip=%-3s max_batch=%-4d worst cosine %.6f\n", name, n, flip ? "on" : "off", max_batch, worst);
      CHECK_MSG(worst >= 0.9995, "%s n=%zu flip=%d: worst cosine %.6f", name, n, flip, worst);
    }
  }
  mfn_stage_times times{};
  api.timings(handle, &times);
  CHECK(times.compute_ms > 0 && times.host_to_device_ms >= 0 && times.device_to_host_ms >= 0);

  // A bad image is rejected before any device work, and the handle still works.
  Images images = make_images(4, plan.tensors[0].w, plan.tensors[0].h, rng);
  std::vector<mfn_image> bad = images.list;
  bad[2].data = nullptr;
  std::vector<float> out(4 * e);
  CHECK(api.embed(handle, bad.data(), 4, 1, out.data(), err, sizeof(err)) == MFN_E_INVALID_ARGUMENT && err[0]);
  bad = images.list;
  bad[1].transform[0] = NAN;
  CHECK(api.embed(handle, bad.data(), 4, 1, out.data(), err, sizeof(err)) == MFN_E_INVALID_ARGUMENT);
  bad = images.list;
  bad[3].channels = 2;
  CHECK(api.embed(handle, bad.data(), 4, 1, out.data(), err, sizeof(err)) == MFN_E_INVALID_CHANNELS);
  CHECK(api.embed(handle, images.list.data(), 4, 1, out.data(), err, sizeof(err)) == MFN_OK);
  CHECK(worst_cosine(reference_embed(plan, images.list, true), out, e) >= 0.9995);
  CHECK(api.embed(handle, images.list.data(), 0, 1, out.data(), err, sizeof(err)) == MFN_OK);
  CHECK(api.infer(handle, images.list.data(), 4, out.data(), err, sizeof(err)) == MFN_E_INVALID_ARGUMENT);
  api.destroy(handle);
}

// True when dlsym finds `name` defined in the plugin itself rather than in a
// library it depends on; `plugin_symbol` is any address inside the plugin.
bool defined_in_plugin(void* lib, const char* name, const void* plugin_symbol) {
  const void* symbol = dlsym(lib, name);
  Dl_info found{}, plugin{};
  return symbol && dladdr(symbol, &found) && dladdr(plugin_symbol, &plugin) && found.dli_fbase == plugin.dli_fbase;
}

}  // namespace

int main() {
  const std::string dir = mfn_test::plugin_dir();
  if (dir.empty()) mfn_test::skip("this build has no CUDA plugin");
  const std::string path = dir + "/libmfn_cuda.so";
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    std::printf("dlopen(%s): %s\n", path.c_str(), dlerror());
    return 1;
  }
  Api api;
  api.version = reinterpret_cast<mfn_backend_api_version_fn>(dlsym(lib, "mfn_backend_api_version"));
  api.score = reinterpret_cast<mfn_backend_score_fn>(dlsym(lib, "mfn_backend_score"));
  api.create = reinterpret_cast<mfn_backend_create_fn>(dlsym(lib, "mfn_backend_create"));
  api.embed = reinterpret_cast<mfn_backend_embed_fn>(dlsym(lib, "mfn_backend_embed"));
  api.infer = reinterpret_cast<mfn_backend_infer_fn>(dlsym(lib, "mfn_backend_infer"));
  api.timings = reinterpret_cast<mfn_backend_timings_fn>(dlsym(lib, "mfn_backend_timings"));
  api.destroy = reinterpret_cast<mfn_backend_destroy_fn>(dlsym(lib, "mfn_backend_destroy"));
  REQUIRE(api.version && api.score && api.create && api.embed && api.infer && api.timings && api.destroy);
  CHECK(api.version() == MFN_BACKEND_API_VERSION);
  // Only the ABI is exported: nothing of the static CUDA runtime or of C++.
  // (A plugin built with MFN_CUDA_RUNTIME=Shared finds cudaMalloc in the
  // libcudart.so it depends on: only a definition in the plugin counts.)
  CHECK(!defined_in_plugin(lib, "cudaMalloc", reinterpret_cast<void*>(api.version)));
  CHECK(!defined_in_plugin(lib, "_ZN8mfn_cuda10build_planERK8mfn_planiPNS_7NetPlanE",
                           reinterpret_cast<void*>(api.version)));

  // No handle, no crash.
  char err[256] = {0};
  CHECK(api.embed(nullptr, nullptr, 0, 0, nullptr, err, sizeof(err)) == MFN_E_INVALID_ARGUMENT && err[0]);
  CHECK(api.infer(nullptr, nullptr, 0, nullptr, err, sizeof(err)) == MFN_E_INVALID_ARGUMENT && err[0]);
  api.timings(nullptr, nullptr);
  api.destroy(nullptr);
  int32_t code = -1;
  CHECK(api.create(nullptr, nullptr, &code, err, sizeof(err)) == nullptr && code == MFN_E_INVALID_ARGUMENT);
  CHECK(api.create(nullptr, nullptr, nullptr, nullptr, 0) == nullptr);

  // Invalid plans fail in planning, before any device is touched.
  {
    Net net = mobile_net();
    net.layers[3].in_c = 32;
    const mfn_plan plan = net.plan();
    mfn_backend_config config{0, 8, 0};
    CHECK(api.create(&plan, &config, &code, err, sizeof(err)) == nullptr && code == MFN_E_MODEL_INVALID);
    std::printf("invalid plan: %s\n", err);
    Net ok = mobile_net();
    const mfn_plan good = ok.plan();
    mfn_backend_config zero{0, 0, 0};
    CHECK(api.create(&good, &zero, &code, err, sizeof(err)) == nullptr && code == MFN_E_INVALID_ARGUMENT);
    Net raw = raw_net();
    raw.layers[1].pad_top = 2;  // a MaxPool window of padding only
    raw.layers[1].out_h = 7;
    raw.tensors[raw.layers[1].output].h = 7;
    const mfn_plan bad_pool = raw.plan();
    CHECK(api.create(&bad_pool, &config, &code, err, sizeof(err)) == nullptr && code == MFN_E_MODEL_INVALID);
    std::printf("invalid MaxPool: %s\n", err);
  }

  char reason[512] = {0};
  const int32_t score = api.score(0, reason, sizeof(reason));
  char small[8];
  std::memset(small, 'x', sizeof(small));
  api.score(0, small, sizeof(small));
  CHECK(std::memchr(small, '\0', sizeof(small)) != nullptr);  // truncated, still terminated
  if (score <= 0) {
    CHECK_MSG(reason[0] != '\0', "score 0 without a reason");
    std::printf("no usable GPU (score 0): %s\n", reason);
    char other[512] = {0};
    CHECK(api.score(1000, other, sizeof(other)) == 0 && other[0]);
    // A valid plan on this machine: unavailable, with the same kind of reason.
    Net net = mobile_net();
    const mfn_plan plan = net.plan();
    mfn_backend_config config{0, 8, 0};
    CHECK(api.create(&plan, &config, &code, err, sizeof(err)) == nullptr && code == MFN_E_BACKEND_UNAVAILABLE && err[0]);
    std::printf("create without a GPU: %s\n", err);
    // A raw-output network passes planning too (MaxPool included).
    Net raw = raw_net();
    const mfn_plan raw_plan = raw.plan();
    CHECK(api.create(&raw_plan, &config, &code, err, sizeof(err)) == nullptr && code == MFN_E_BACKEND_UNAVAILABLE);
    std::printf("GPU checks not run: no usable CUDA device\n");
    return mfn_test::test_exit_code();
  }
  std::printf("CUDA device 0 usable, score %d\n", score);
  char other[512] = {0};
  CHECK(api.score(1000, other, sizeof(other)) == 0 && std::strstr(other, "does not exist"));

  // Depthwise layers fused into the GEMMs after them (the default), then
  // each as a kernel of its own (MFN_CUDA_FUSE=0 is read at create).
  check_network(api, "mobile", mobile_net(), 32, {1, 5, 70});
  check_network(api, "mobile", mobile_net(), 256, {300});
  setenv("MFN_CUDA_FUSE", "0", 1);
  check_network(api, "unfused", mobile_net(), 32, {1, 5, 70});
  unsetenv("MFN_CUDA_FUSE");
  check_network(api, "wide", wide_net(), 16, {1, 3, 40});
  check_network(api, "generic", generic_net(), 8, {1, 11});
  check_raw_network(api, "raw", raw_net(), 8, {1, 7, 20});
  setenv("MFN_CUDA_FUSE", "0", 1);
  check_raw_network(api, "raw-unfused", raw_net(), 8, {5});
  unsetenv("MFN_CUDA_FUSE");
  std::printf("cuda_plugin_test: %d failure(s)\n", mfn_test::failures());
  return mfn_test::test_exit_code();
}
