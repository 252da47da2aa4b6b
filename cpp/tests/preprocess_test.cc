// Preprocessing: channel order and normalisation, the identity transform
// reading pixels exactly, mirror, the resize transform, bilinear sampling
// against a double-precision reference, clamp vs zero borders, alpha and
// row stride, NHWC == NCHW, and validate_image's error codes.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <vector>

#include "core/preprocess.h"
#include "tests/check.h"

namespace {

struct Fixture {
  mfn_tensor_desc input{3, 0, 0};
  mfn_plan plan{};
  Fixture(int w, int h, int c0, int c1, int c2, float scale, float bias) {
    input.h = h;
    input.w = w;
    plan.num_tensors = 1;
    plan.tensors = &input;
    plan.channel_src[0] = c0;
    plan.channel_src[1] = c1;
    plan.channel_src[2] = c2;
    for (int k = 0; k < 3; ++k) {
      plan.input_scale[k] = scale * (k + 1);
      plan.input_bias[k] = bias - k;
    }
  }
  size_t size() const { return static_cast<size_t>(3) * input.h * input.w; }
  float at(const std::vector<float>& out, int c, int y, int x) const {
    return out[(static_cast<size_t>(c) * input.h + y) * input.w + x];
  }
};

struct Image {
  std::vector<uint8_t> pixels;
  mfn_image im{};
  uint8_t px(int x, int y, int c) const { return pixels[y * im.row_stride + x * im.channels + c]; }
};

Image random_image(std::mt19937& rng, int w, int h, int channels, mfn_pixel_order order, size_t pad = 0) {
  Image img;
  img.im.width = w;
  img.im.height = h;
  img.im.channels = channels;
  img.im.order = order;
  img.im.row_stride = static_cast<size_t>(w) * channels + pad;
  img.pixels.resize(img.im.row_stride * h);
  for (auto& v : img.pixels) v = static_cast<uint8_t>(rng() & 255);
  img.im.data = img.pixels.data();
  return img;
}

void set_transform(mfn_image* im, float a, float b, float c, float d, float e, float f, mfn_border border) {
  const float t[6] = {a, b, c, d, e, f};
  for (int i = 0; i < 6; ++i) im->transform[i] = t[i];
  im->border = border;
}

// Bilinear in double precision, with the RGB-index `rgb` channel.
double reference_sample(const Image& img, double sx, double sy, int rgb, bool zero_border) {
  const mfn_image& im = img.im;
  const int ch = im.order == MFN_ORDER_BGR ? 2 - rgb : rgb;
  if (!zero_border) {
    sx = std::min(std::max(sx, 0.0), im.width - 1.0);
    sy = std::min(std::max(sy, 0.0), im.height - 1.0);
  }
  const int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
  const double ax = sx - x0, ay = sy - y0;
  auto p = [&](int x, int y) -> double {
    if (x < 0 || y < 0 || x >= im.width || y >= im.height) {
      if (zero_border) return 0.0;
      x = std::min(std::max(x, 0), im.width - 1);
      y = std::min(std::max(y, 0), im.height - 1);
    }
    return img.px(x, y, ch);
  };
  return (1 - ay) * ((1 - ax) * p(x0, y0) + ax * p(x0 + 1, y0)) + ay * ((1 - ax) * p(x0, y0 + 1) + ax * p(x0 + 1, y0 + 1));
}

void test_identity_channels_mirror() {
  std::mt19937 rng(1);
  // A BGR model (channel 0 takes blue) with per-channel scale and bias.
  Fixture f(9, 7, 2, 1, 0, 0.5f, -3.0f);
  for (mfn_pixel_order order : {MFN_ORDER_RGB, MFN_ORDER_BGR}) {
    for (int channels : {3, 4}) {
      Image img = random_image(rng, 9, 7, channels, order, 5);
      mfn::resize_transform(9, 7, 9, 7, img.im.transform);
      img.im.border = MFN_BORDER_CLAMP;
      std::vector<float> out(f.size()), mirrored(f.size());
      mfn::preprocess_image(img.im, f.plan, false, out.data());
      mfn::preprocess_image(img.im, f.plan, true, mirrored.data());
      for (int k = 0; k < 3; ++k) {
        const int rgb = f.plan.channel_src[k];
        const int byte = order == MFN_ORDER_BGR ? 2 - rgb : rgb;
        for (int y = 0; y < 7; ++y)
          for (int x = 0; x < 9; ++x) {
            const float expect = static_cast<float>(img.px(x, y, byte)) * f.plan.input_scale[k] + f.plan.input_bias[k];
            CHECK_MSG(f.at(out, k, y, x) == expect, "order %d channels %d k %d (%d,%d): %g vs %g", order, channels, k,
                      x, y, f.at(out, k, y, x), expect);
            CHECK(f.at(mirrored, k, y, x) == f.at(out, k, y, 8 - x));
          }
      }
    }
  }
  // The same pixels in either order give the same tensor.
  Image rgb = random_image(rng, 9, 7, 3, MFN_ORDER_RGB);
  Image bgr = rgb;
  bgr.im.data = bgr.pixels.data();
  bgr.im.order = MFN_ORDER_BGR;
  for (size_t i = 0; i < bgr.pixels.size(); i += 3) std::swap(bgr.pixels[i], bgr.pixels[i + 2]);
  mfn::resize_transform(9, 7, 9, 7, rgb.im.transform);
  mfn::resize_transform(9, 7, 9, 7, bgr.im.transform);
  std::vector<float> a(f.size()), b(f.size());
  mfn::preprocess_image(rgb.im, f.plan, false, a.data());
  mfn::preprocess_image(bgr.im, f.plan, false, b.data());
  CHECK(a == b);
}

void test_resize() {
  float t[6];
  mfn::resize_transform(112, 112, 112, 112, t);
  CHECK(t[0] == 1 && t[1] == 0 && t[2] == 0 && t[3] == 0 && t[4] == 1 && t[5] == 0);
  mfn::resize_transform(250, 100, 125, 200, t);
  CHECK(t[0] == 2.0f && t[2] == 0.5f && t[4] == 0.5f && t[5] == -0.25f && t[1] == 0 && t[3] == 0);

  // 2x downscale: each output is the exact mean of a 2x2 block.
  std::mt19937 rng(2);
  Fixture f(6, 5, 0, 1, 2, 1.0f, 0.0f);
  for (int k = 0; k < 3; ++k) {
    f.plan.input_scale[k] = 1.0f;
    f.plan.input_bias[k] = 0.0f;
  }
  Image img = random_image(rng, 12, 10, 3, MFN_ORDER_RGB);
  mfn::resize_transform(12, 10, 6, 5, img.im.transform);
  img.im.border = MFN_BORDER_CLAMP;
  std::vector<float> out(f.size());
  mfn::preprocess_image(img.im, f.plan, false, out.data());
  for (int k = 0; k < 3; ++k)
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 6; ++x) {
        const float mean = (img.px(2 * x, 2 * y, k) + img.px(2 * x + 1, 2 * y, k) + img.px(2 * x, 2 * y + 1, k) +
                            img.px(2 * x + 1, 2 * y + 1, k)) / 4.0f;
        CHECK_MSG(f.at(out, k, y, x) == mean, "(%d,%d,%d) %g vs %g", x, y, k, f.at(out, k, y, x), mean);
      }
}

void test_bilinear_and_borders() {
  std::mt19937 rng(3);
  Fixture f(16, 12, 0, 1, 2, 1.0f, 0.0f);
  for (int k = 0; k < 3; ++k) {
    f.plan.input_scale[k] = 1.0f;
    f.plan.input_bias[k] = 0.0f;
  }
  Image img = random_image(rng, 13, 11, 4, MFN_ORDER_BGR, 3);
  // Rotation + scale + shift that pushes part of the crop outside the image.
  const float a = 0.8f * std::cos(0.4f), b = 0.8f * std::sin(0.4f);
  for (mfn_border border : {MFN_BORDER_CLAMP, MFN_BORDER_ZERO}) {
    set_transform(&img.im, a, -b, 2.3f, b, a, -3.1f, border);
    for (int mirror = 0; mirror < 2; ++mirror) {
      std::vector<float> out(f.size());
      mfn::preprocess_image(img.im, f.plan, mirror != 0, out.data());
      double worst = 0;
      int outside = 0;
      for (int y = 0; y < 12; ++y)
        for (int x = 0; x < 16; ++x) {
          const int xd = mirror ? 15 - x : x;
          const double sx = a * xd - b * y + 2.3, sy = b * xd + a * y - 3.1;
          if (sx < 0 || sy < 0 || sx > 12 || sy > 10) ++outside;
          for (int k = 0; k < 3; ++k)
            worst = std::max(worst, std::fabs(f.at(out, k, y, x) -
                                              reference_sample(img, sx, sy, k, border == MFN_BORDER_ZERO)));
        }
      CHECK(outside > 10);  // the borders really are exercised
      CHECK_MSG(worst < 2e-3, "border %d mirror %d: max diff %g", border, mirror, worst);
    }
  }

  // Clamp repeats the edge; zero fades to 0 at half a pixel outside.
  Fixture g(4, 1, 0, 1, 2, 1.0f, 0.0f);
  for (int k = 0; k < 3; ++k) {
    g.plan.input_scale[k] = 1.0f;
    g.plan.input_bias[k] = 0.0f;
  }
  Image row = random_image(rng, 4, 1, 3, MFN_ORDER_RGB);
  std::vector<float> out(g.size());
  set_transform(&row.im, 1, 0, -2.0f, 0, 1, 0, MFN_BORDER_CLAMP);
  mfn::preprocess_image(row.im, g.plan, false, out.data());
  CHECK(g.at(out, 0, 0, 0) == row.px(0, 0, 0) && g.at(out, 0, 0, 1) == row.px(0, 0, 0) &&
        g.at(out, 0, 0, 3) == row.px(1, 0, 0));
  set_transform(&row.im, 1, 0, -2.0f, 0, 1, 0, MFN_BORDER_ZERO);
  mfn::preprocess_image(row.im, g.plan, false, out.data());
  CHECK(g.at(out, 0, 0, 0) == 0 && g.at(out, 0, 0, 1) == 0 && g.at(out, 0, 0, 2) == row.px(0, 0, 0));
  set_transform(&row.im, 1, 0, -0.5f, 0, 1, 0, MFN_BORDER_ZERO);
  mfn::preprocess_image(row.im, g.plan, false, out.data());
  CHECK(g.at(out, 1, 0, 0) == 0.5f * row.px(0, 0, 1));
  set_transform(&row.im, 1, 0, -0.5f, 0, 1, 0, MFN_BORDER_CLAMP);
  mfn::preprocess_image(row.im, g.plan, false, out.data());
  CHECK(g.at(out, 1, 0, 0) == row.px(0, 0, 1));

  // Non-finite transforms: no crash, finite values.
  for (mfn_border border : {MFN_BORDER_CLAMP, MFN_BORDER_ZERO}) {
    set_transform(&img.im, NAN, 0, INFINITY, 0, -INFINITY, NAN, border);
    std::vector<float> bad(f.size(), NAN);
    mfn::preprocess_image(img.im, f.plan, false, bad.data());
    for (float v : bad) CHECK(std::isfinite(v));
  }
}

void test_nhwc_matches_nchw() {
  std::mt19937 rng(4);
  Fixture f(11, 9, 2, 0, 1, 1.0f / 127.5f, -1.0f);
  Image img = random_image(rng, 30, 25, 3, MFN_ORDER_BGR);
  // A rotation, then axis-aligned ones (the NHWC path's column-table branch):
  // letterbox-like scales with margins outside the image, both borders,
  // up- and downscaling, a pure scale of 1 with an offset, and NaN.
  struct T { float a, b, c, d, e, g; mfn_border border; };
  const T transforms[] = {
      {1.7f, 0.3f, 2.0f, -0.2f, 1.9f, 4.5f, MFN_BORDER_ZERO},
      {2.9f, 0.0f, -6.3f, 0.0f, 2.9f, -3.1f, MFN_BORDER_ZERO},
      {2.9f, 0.0f, -6.3f, 0.0f, 2.9f, -3.1f, MFN_BORDER_CLAMP},
      {0.37f, 0.0f, 1.25f, 0.0f, 0.41f, -0.5f, MFN_BORDER_ZERO},
      {1.0f, 0.0f, 3.5f, 0.0f, 1.0f, 2.25f, MFN_BORDER_CLAMP},
      {1.0f, 0.0f, 0.0f, 0.0f, 2.0f, 0.0f, MFN_BORDER_ZERO},
      {NAN, 0.0f, 1.0f, 0.0f, 1.0f, 0.0f, MFN_BORDER_ZERO},
  };
  for (const T& t : transforms) {
    set_transform(&img.im, t.a, t.b, t.c, t.d, t.e, t.g, t.border);
    for (int mirror = 0; mirror < 2; ++mirror) {
      std::vector<float> nchw(f.size()), nhwc(f.size());
      mfn::preprocess_image(img.im, f.plan, mirror != 0, nchw.data());
      mfn::preprocess_image_nhwc(img.im, f.plan, mirror != 0, nhwc.data());
      for (int c = 0; c < 3; ++c)
        for (int i = 0; i < 99; ++i) CHECK(nchw[c * 99 + i] == nhwc[i * 3 + c] || (std::isnan(nchw[c * 99 + i]) && std::isnan(nhwc[i * 3 + c])));
    }
  }
}

void test_validate() {
  std::vector<uint8_t> buf(100 * 50 * 4);
  mfn::ImageInput in;
  in.data = buf.data();
  in.size = buf.size();
  in.width = 100;
  in.height = 50;
  in.channels = 4;
  in.order = MFN_ORDER_BGR;
  CHECK(mfn::validate_image(in).is_ok());
  mfn::ImageInput t = in;
  t.data = nullptr;
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_argument);
  t = in;
  t.width = 0;
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_dimensions);
  t = in;
  t.height = 16385;
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_dimensions);
  t = in;
  t.height = -3;
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_dimensions);
  t = in;
  t.channels = 1;
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_channels);
  t = in;
  t.order = static_cast<mfn_pixel_order>(7);
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_argument);
  t = in;
  t.size = buf.size() - 1;
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_argument);
  t = in;
  t.row_stride = 399;
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_argument);
  // A padded stride needs (h-1)*stride + w*channels bytes, not h*stride.
  t = in;
  t.channels = 3;
  t.row_stride = 400;
  t.size = 49 * 400 + 300;
  CHECK(mfn::validate_image(t).is_ok());
  t.size -= 1;
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_argument);
  // A stride so large that (h-1)*stride wraps around size_t: 2 * 2^63 is 0,
  // so the bytes "needed" came to w*channels and rows were read far outside
  // the buffer.
  t = in;
  t.height = 3;
  t.row_stride = (SIZE_MAX >> 1) + 1;
  CHECK(mfn::validate_image(t).code() == mfn::Code::invalid_argument);
  t.height = 1;  // one row: the stride is never used
  CHECK(mfn::validate_image(t).is_ok());
}

}  // namespace

int main() {
  test_identity_channels_mirror();
  test_resize();
  test_bilinear_and_borders();
  test_nhwc_matches_nchw();
  test_validate();
  std::printf("%d failures\n", mfn_test::failures());
  return mfn_test::test_exit_code();
}
