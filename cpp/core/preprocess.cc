// Preprocessing on the CPU (runs on the backend's pool threads or the
// caller's thread; pure functions, no shared state).
#include "core/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <string>
#include <vector>

namespace mfn {

namespace {

constexpr int kMaxSide = 16384;

// Byte offsets, within a caller pixel, of the model's three channels.
struct ChannelMap {
  int offset[3];
  float scale[3];
  float bias[3];
};

ChannelMap channel_map(const mfn_image& image, const mfn_plan& plan) {
  ChannelMap map{};
  for (int k = 0; k < 3; ++k) {
    int src = plan.channel_src[k];
    if (src < 0 || src > 2) src = k;  // a plan is validated at create; stay in bounds anyway
    map.offset[k] = image.order == MFN_ORDER_BGR ? 2 - src : src;
    map.scale[k] = plan.input_scale[k];
    map.bias[k] = plan.input_bias[k];
  }
  return map;
}

// The exact read a pure integer translation gets: every dst pixel of row y
// lands on a source pixel. Bilinear interpolation with zero fractions gives
// exactly that pixel (p + 0 * (q - p) == p), so this path is bit-identical
// to the general one.
bool integer_row(const mfn_image& im, int y, int out_w, int* src_x0, int* src_y) {
  const float* t = im.transform;
  if (t[0] != 1.0f || t[1] != 0.0f || t[3] != 0.0f || t[4] != 1.0f) return false;
  if (t[2] != std::floor(t[2]) || t[5] != std::floor(t[5])) return false;
  if (!(std::fabs(t[2]) < 1e7f && std::fabs(t[5]) < 1e7f)) return false;
  const long x0 = static_cast<long>(t[2]);
  const long sy = static_cast<long>(t[5]) + y;
  if (sy < 0 || sy >= im.height || x0 < 0 || x0 + out_w > im.width) return false;
  *src_x0 = static_cast<int>(x0);
  *src_y = static_cast<int>(sy);
  return true;
}

// Bilinear interpolation of one channel between rows r0/r1 at byte offsets
// i0/i1; a neighbour outside a zero border reads as 0. Shared by both
// samplers so that they compute bit-identical values.
inline float bilinear(const uint8_t* r0, const uint8_t* r1, size_t i0, size_t i1, float ax, float ay, bool zero_border,
                      bool in_x0, bool in_x1, bool in_y0, bool in_y1) {
  float p00 = r0[i0], p10 = r0[i1], p01 = r1[i0], p11 = r1[i1];
  if (zero_border) {
    if (!in_x0 || !in_y0) p00 = 0.0f;
    if (!in_x1 || !in_y0) p10 = 0.0f;
    if (!in_x0 || !in_y1) p01 = 0.0f;
    if (!in_x1 || !in_y1) p11 = 0.0f;
  }
  const float top = p00 + ax * (p10 - p00);
  const float bottom = p01 + ax * (p11 - p01);
  return top + ay * (bottom - top);
}

// One dst row (out_w pixels, possibly mirrored) into dst[out_w][3].
void sample_row(const mfn_image& im, const ChannelMap& map, bool mirror, int y, int out_w, float* dst) {
  const size_t cs = static_cast<size_t>(im.channels);
  int sx0 = 0, sy0 = 0;
  if (integer_row(im, y, out_w, &sx0, &sy0)) {
    const uint8_t* row = im.data + static_cast<size_t>(sy0) * im.row_stride;
    for (int x = 0; x < out_w; ++x) {
      const int xd = mirror ? out_w - 1 - x : x;
      const uint8_t* p = row + static_cast<size_t>(sx0 + xd) * cs;
      for (int k = 0; k < 3; ++k) dst[x * 3 + k] = static_cast<float>(p[map.offset[k]]) * map.scale[k] + map.bias[k];
    }
    return;
  }

  const float* t = im.transform;
  const float fy = static_cast<float>(y);
  const float max_x = static_cast<float>(im.width - 1);
  const float max_y = static_cast<float>(im.height - 1);
  const bool zero_border = im.border == MFN_BORDER_ZERO;
  for (int x = 0; x < out_w; ++x) {
    const float fx = static_cast<float>(mirror ? out_w - 1 - x : x);
    float sx = t[0] * fx + t[1] * fy + t[2];
    float sy = t[3] * fx + t[4] * fy + t[5];
    float value[3];
    if (zero_border) {
      // Entirely outside (or not a number): all four neighbours are 0.
      if (!(sx > -1.0f && sx < max_x + 1.0f && sy > -1.0f && sy < max_y + 1.0f)) {
        for (int k = 0; k < 3; ++k) dst[x * 3 + k] = 0.0f * map.scale[k] + map.bias[k];
        continue;
      }
    } else {
      // Clamping the coordinate equals clamping the neighbours; NaN -> 0.
      if (!(sx >= 0.0f)) sx = 0.0f;
      if (sx > max_x) sx = max_x;
      if (!(sy >= 0.0f)) sy = 0.0f;
      if (sy > max_y) sy = max_y;
    }
    const float flx = std::floor(sx), fly = std::floor(sy);
    const int x0 = static_cast<int>(flx), y0 = static_cast<int>(fly);
    const float ax = sx - flx, ay = sy - fly;
    const bool in_x0 = x0 >= 0, in_x1 = x0 + 1 <= im.width - 1;
    const bool in_y0 = y0 >= 0, in_y1 = y0 + 1 <= im.height - 1;
    // Clamp mode never reaches an outside neighbour with a non-zero weight;
    // reading the clamped one keeps the arithmetic identical.
    const int cx0 = in_x0 ? x0 : 0, cx1 = in_x1 ? x0 + 1 : im.width - 1;
    const int cy0 = in_y0 ? y0 : 0, cy1 = in_y1 ? y0 + 1 : im.height - 1;
    const uint8_t* r0 = im.data + static_cast<size_t>(cy0) * im.row_stride;
    const uint8_t* r1 = im.data + static_cast<size_t>(cy1) * im.row_stride;
    for (int k = 0; k < 3; ++k) {
      const size_t o = static_cast<size_t>(map.offset[k]);
      value[k] = bilinear(r0, r1, static_cast<size_t>(cx0) * cs + o, static_cast<size_t>(cx1) * cs + o, ax, ay,
                          zero_border, in_x0, in_x1, in_y0, in_y1);
    }
    for (int k = 0; k < 3; ++k) dst[x * 3 + k] = value[k] * map.scale[k] + map.bias[k];
  }
}

// The same samples as sample_row for an axis-aligned transform (t[1] ==
// t[3] == 0: plain resizes and the detector's letterbox), with the column
// arithmetic done once per image instead of once per pixel. Bit-identical to
// sample_row: every coordinate is the same float expression (the zero terms
// add exactly 0), and the interpolation is the same code.
void sample_rows_axis_aligned(const mfn_image& im, const ChannelMap& map, bool mirror, int y_begin, int y_end,
                              int out_w, float* out) {
  struct Column {
    int cx0, cx1;
    float ax;
    bool in_x0, in_x1, outside;
  };
  const float* t = im.transform;
  const size_t cs = static_cast<size_t>(im.channels);
  const float max_x = static_cast<float>(im.width - 1);
  const float max_y = static_cast<float>(im.height - 1);
  const bool zero_border = im.border == MFN_BORDER_ZERO;
  std::vector<Column> columns(static_cast<size_t>(out_w));
  for (int x = 0; x < out_w; ++x) {
    const float fx = static_cast<float>(mirror ? out_w - 1 - x : x);
    float sx = t[0] * fx + t[1] * 0.0f + t[2];
    Column& c = columns[x];
    c.outside = zero_border && !(sx > -1.0f && sx < max_x + 1.0f);
    if (!zero_border) {
      if (!(sx >= 0.0f)) sx = 0.0f;
      if (sx > max_x) sx = max_x;
    }
    const float flx = std::floor(sx);
    const int x0 = static_cast<int>(flx);
    c.ax = sx - flx;
    c.in_x0 = x0 >= 0;
    c.in_x1 = x0 + 1 <= im.width - 1;
    c.cx0 = c.in_x0 ? x0 : 0;
    c.cx1 = c.in_x1 ? x0 + 1 : im.width - 1;
  }
  for (int y = y_begin; y < y_end; ++y) {
    float* dst = out + static_cast<size_t>(y) * out_w * 3;
    float sy = t[3] * 0.0f + t[4] * static_cast<float>(y) + t[5];
    const bool row_outside = zero_border && !(sy > -1.0f && sy < max_y + 1.0f);
    if (!zero_border) {
      if (!(sy >= 0.0f)) sy = 0.0f;
      if (sy > max_y) sy = max_y;
    }
    const float fly = std::floor(sy);
    const int y0 = static_cast<int>(fly);
    const float ay = sy - fly;
    const bool in_y0 = y0 >= 0, in_y1 = y0 + 1 <= im.height - 1;
    const uint8_t* r0 = im.data + static_cast<size_t>(in_y0 ? y0 : 0) * im.row_stride;
    const uint8_t* r1 = im.data + static_cast<size_t>(in_y1 ? y0 + 1 : im.height - 1) * im.row_stride;
    for (int x = 0; x < out_w; ++x) {
      const Column& c = columns[x];
      if (row_outside || c.outside) {
        for (int k = 0; k < 3; ++k) dst[x * 3 + k] = 0.0f * map.scale[k] + map.bias[k];
        continue;
      }
      for (int k = 0; k < 3; ++k) {
        const size_t o = static_cast<size_t>(map.offset[k]);
        const float v = bilinear(r0, r1, static_cast<size_t>(c.cx0) * cs + o, static_cast<size_t>(c.cx1) * cs + o, c.ax,
                                 ay, zero_border, c.in_x0, c.in_x1, in_y0, in_y1);
        dst[x * 3 + k] = v * map.scale[k] + map.bias[k];
      }
    }
  }
}

}  // namespace

Status validate_image(const ImageInput& image) {
  if (image.data == nullptr) return Status(Code::invalid_argument, "image data is null");
  if (image.width <= 0 || image.height <= 0 || image.width > kMaxSide || image.height > kMaxSide) {
    return Status(Code::invalid_dimensions, "image is " + std::to_string(image.width) + "x" +
                                                std::to_string(image.height) + "; each side must be 1.." +
                                                std::to_string(kMaxSide));
  }
  if (image.channels != 3 && image.channels != 4) {
    return Status(Code::invalid_channels,
                  "image has " + std::to_string(image.channels) + " channels; 3 or 4 are supported");
  }
  // Read the enum's bytes: a caller may have cast any integer into it.
  std::underlying_type_t<mfn_pixel_order> order;
  std::memcpy(&order, &image.order, sizeof order);
  if (order != MFN_ORDER_RGB && order != MFN_ORDER_BGR) {
    return Status(Code::invalid_argument, "unknown pixel order " + std::to_string(order));
  }
  const size_t row_bytes = static_cast<size_t>(image.width) * image.channels;
  const size_t stride = image.row_stride ? image.row_stride : row_bytes;
  if (stride < row_bytes) {
    return Status(Code::invalid_argument, "row stride " + std::to_string(stride) + " is below width * channels (" +
                                              std::to_string(row_bytes) + ")");
  }
  // Each row after the first starts a stride further, so a stride beyond the
  // buffer cannot be valid; refusing it first also keeps (h-1)*stride from
  // wrapping around (h <= 16384).
  if (image.height > 1 && stride > image.size) {
    return Status(Code::invalid_argument, "row stride " + std::to_string(stride) + " is beyond the image buffer (" +
                                              std::to_string(image.size) + " bytes)");
  }
  const size_t needed = (static_cast<size_t>(image.height) - 1) * stride + row_bytes;
  if (image.size < needed) {
    return Status(Code::invalid_argument, "image buffer has " + std::to_string(image.size) + " bytes; " +
                                              std::to_string(needed) + " needed");
  }
  return Status::ok();
}

mfn_image image_view(const ImageInput& image) {
  mfn_image view{};
  view.data = image.data;
  view.width = image.width;
  view.height = image.height;
  view.channels = image.channels;
  view.order = image.order;
  view.row_stride = image.row_stride ? image.row_stride : static_cast<size_t>(image.width) * image.channels;
  return view;
}

void resize_transform(int src_w, int src_h, int dst_w, int dst_h, float t[6]) {
  const double sx = static_cast<double>(src_w) / dst_w;
  const double sy = static_cast<double>(src_h) / dst_h;
  t[0] = static_cast<float>(sx);
  t[1] = 0.0f;
  t[2] = static_cast<float>(0.5 * sx - 0.5);
  t[3] = 0.0f;
  t[4] = static_cast<float>(sy);
  t[5] = static_cast<float>(0.5 * sy - 0.5);
}

void preprocess_rows_nhwc(const mfn_image& image, const mfn_plan& plan, bool mirror, int y_begin, int y_end,
                          float* out) {
  const mfn_tensor_desc& in = plan.tensors[0];
  if (in.c != 3) return;  // plans are validated to take 3 channels
  const ChannelMap map = channel_map(image, plan);
  const int y0 = std::max(0, y_begin), y1 = std::min(in.h, y_end);
  const float* t = image.transform;
  // Integer translations (the 112x112 identity) keep sample_row's exact path.
  if (t[1] == 0.0f && t[3] == 0.0f && !(t[0] == 1.0f && t[4] == 1.0f)) {
    sample_rows_axis_aligned(image, map, mirror, y0, y1, in.w, out);
    return;
  }
  for (int y = y0; y < y1; ++y) sample_row(image, map, mirror, y, in.w, out + static_cast<size_t>(y) * in.w * 3);
}

void preprocess_image_nhwc(const mfn_image& image, const mfn_plan& plan, bool mirror, float* out) {
  preprocess_rows_nhwc(image, plan, mirror, 0, plan.tensors[0].h, out);
}

void preprocess_image(const mfn_image& image, const mfn_plan& plan, bool mirror, float* out) {
  const mfn_tensor_desc& in = plan.tensors[0];
  if (in.c != 3) return;  // plans are validated to take 3 channels
  const ChannelMap map = channel_map(image, plan);
  const size_t plane = static_cast<size_t>(in.h) * in.w;
  std::vector<float> row(static_cast<size_t>(in.w) * 3);
  for (int y = 0; y < in.h; ++y) {
    sample_row(image, map, mirror, y, in.w, row.data());
    for (int x = 0; x < in.w; ++x)
      for (int k = 0; k < 3; ++k) out[k * plane + static_cast<size_t>(y) * in.w + x] = row[x * 3 + k];
  }
}

}  // namespace mfn
