#include "cpu/conv_layer.h"

#include <algorithm>

namespace mfn {
namespace cpu {

void split(int total, int block, int part, int parts, int* lo, int* hi) {
  const int blocks = (total + block - 1) / block;
  const int per = (blocks + parts - 1) / parts;
  *lo = std::min(total, part * per * block);
  *hi = std::min(total, (part + 1) * per * block);
}

namespace {

// Target size of one im2col chunk, in floats: small enough to stay in L1/L2
// next to the packed weights.
constexpr size_t kIm2colFloats = 16 * 1024;

size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

bool covers_whole_input(const mfn_conv_layer& l) {
  return l.out_h == 1 && l.out_w == 1 && l.kernel_h == l.in_h && l.kernel_w == l.in_w && l.pad_top == 0 &&
         l.pad_left == 0 && l.pad_bottom == 0 && l.pad_right == 0 && l.dilation_h == 1 && l.dilation_w == 1;
}

ConvKind classify(const mfn_conv_layer& l) {
  if (l.group == l.in_c && l.group == l.out_c && l.group > 1) return ConvKind::depthwise;
  if (l.group == 1) {
    const bool pointwise = l.kernel_h == 1 && l.kernel_w == 1 && l.stride_h == 1 && l.stride_w == 1 &&
                           l.pad_top == 0 && l.pad_left == 0 && l.pad_bottom == 0 && l.pad_right == 0;
    if (pointwise || covers_whole_input(l)) return ConvKind::gemm;
  }
  return ConvKind::im2col;
}

// Gathers output pixels [m0, m1) of group g into rows of k floats, ordered
// (ky, kx, ci) like the packed weights; padding reads as 0.
void im2col(const mfn_conv_layer& l, const float* in, int g, int m0, int m1, float* cols) {
  const int cin = l.in_c / l.group;
  const int k = l.kernel_h * l.kernel_w * cin;
  for (int m = m0; m < m1; ++m) {
    const int oy = m / l.out_w, ox = m % l.out_w;
    float* row = cols + static_cast<size_t>(m - m0) * k;
    const int ix0 = ox * l.stride_w - l.pad_left;
    // With dilation 1 and the kernel row inside the input, the row's taps
    // are one contiguous run of kw * cin floats (NHWC, group 1).
    const bool whole_rows = l.dilation_w == 1 && l.group == 1 && ix0 >= 0 && ix0 + l.kernel_w <= l.in_w;
    for (int ky = 0; ky < l.kernel_h; ++ky) {
      const int iy = oy * l.stride_h - l.pad_top + ky * l.dilation_h;
      if (whole_rows) {
        float* dst = row + ky * l.kernel_w * cin;
        const int run = l.kernel_w * cin;
        if (iy < 0 || iy >= l.in_h) {
          for (int i = 0; i < run; ++i) dst[i] = 0.0f;
        } else {
          const float* src = in + (static_cast<size_t>(iy) * l.in_w + ix0) * l.in_c;
          for (int i = 0; i < run; ++i) dst[i] = src[i];
        }
        continue;
      }
      for (int kx = 0; kx < l.kernel_w; ++kx) {
        const int ix = ox * l.stride_w - l.pad_left + kx * l.dilation_w;
        float* dst = row + (ky * l.kernel_w + kx) * cin;
        if (iy < 0 || iy >= l.in_h || ix < 0 || ix >= l.in_w) {
          std::fill(dst, dst + cin, 0.0f);
        } else {
          const float* src = in + (static_cast<size_t>(iy) * l.in_w + ix) * l.in_c + g * cin;
          std::copy(src, src + cin, dst);
        }
      }
    }
  }
}

}  // namespace

WindowArgs window_args(const mfn_conv_layer& l, const float* in, float* out) {
  WindowArgs a;
  a.in = in;
  a.in_h = l.in_h;
  a.in_w = l.in_w;
  a.c = l.in_c;
  a.out = out;
  a.out_h = l.out_h;
  a.out_w = l.out_w;
  a.kh = l.kernel_h;
  a.kw = l.kernel_w;
  a.sh = l.stride_h;
  a.sw = l.stride_w;
  a.pad_top = l.pad_top;
  a.pad_left = l.pad_left;
  return a;
}

bool make_conv_layer(const mfn_conv_layer& src, const Kernels& kernels, ConvLayer* out) {
  ConvLayer& L = *out;
  L.geo = src;
  L.geo.weight = L.geo.bias = L.geo.slope = nullptr;
  L.kind = classify(src);
  L.m = src.out_h * src.out_w;
  const int cin = src.in_c / src.group;
  const int taps = src.kernel_h * src.kernel_w;

  if (L.kind == ConvKind::depthwise) {
    const size_t c = static_cast<size_t>(src.out_c);
    const size_t padded = round_up(c, 16);
    if (!L.weights.resize(static_cast<size_t>(taps) * c) || !L.bias.resize(padded)) return false;
    if (src.slope && !L.slope.resize(padded)) return false;
    for (size_t ch = 0; ch < c; ++ch)
      for (int t = 0; t < taps; ++t) L.weights.data()[t * c + ch] = src.weight[ch * taps + t];
    std::copy(src.bias, src.bias + c, L.bias.data());
    if (src.slope) std::copy(src.slope, src.slope + c, L.slope.data());
    return true;
  }

  const int nr = kernels.nr;
  L.k = taps * cin;
  L.n = src.out_c / src.group;
  L.panels = (L.n + nr - 1) / nr;
  const size_t panel_floats = static_cast<size_t>(L.k) * nr;
  const size_t group_cols = static_cast<size_t>(L.panels) * nr;
  if (!L.weights.resize(src.group * L.panels * panel_floats) || !L.bias.resize(src.group * group_cols)) return false;
  if (src.slope && !L.slope.resize(src.group * group_cols)) return false;
  for (int g = 0; g < src.group; ++g) {
    float* gw = L.weights.data() + g * L.panels * panel_floats;
    for (int j = 0; j < L.n; ++j) {
      const int o = g * L.n + j;
      // OIHW [o][ci][ky][kx] -> B[(ky*kw + kx)*cin + ci][j], panel-major.
      const float* w = src.weight + static_cast<size_t>(o) * cin * taps;
      float* panel = gw + (j / nr) * panel_floats + j % nr;
      for (int ci = 0; ci < cin; ++ci)
        for (int t = 0; t < taps; ++t) panel[static_cast<size_t>(t * cin + ci) * nr] = w[ci * taps + t];
      L.bias.data()[g * group_cols + j] = src.bias[o];
      if (src.slope) L.slope.data()[g * group_cols + j] = src.slope[o];
    }
  }
  if (L.kind == ConvKind::im2col) {
    const size_t rows = std::max<size_t>(kIm2colFloats / L.k, 1);
    L.chunk_rows = static_cast<int>(std::max<size_t>(rows / kernels.mr, 1) * kernels.mr);
  }
  return true;
}

size_t conv_scratch_floats(const ConvLayer& layer) {
  return layer.kind == ConvKind::im2col ? static_cast<size_t>(layer.chunk_rows) * layer.k : 0;
}

void run_conv_layer(const ConvLayer& layer, const Kernels& kernels, const float* in, const float* res, float* out,
                    float* scratch, int part, int parts) {
  const mfn_conv_layer& l = layer.geo;
  Epilogue epi;
  epi.bias = layer.bias.data();
  epi.slope = layer.slope.size() ? layer.slope.data() : nullptr;
  epi.res = res;
  epi.ldr = static_cast<size_t>(l.out_c);
  epi.res_after = l.residual_after_act != 0;

  if (layer.kind == ConvKind::depthwise) {
    DwArgs d;
    static_cast<WindowArgs&>(d) = window_args(l, in, out);
    d.dh = l.dilation_h;
    d.dw = l.dilation_w;
    d.w = layer.weights.data();
    d.epi = epi;
    int lo, hi;
    split(l.out_h, 1, part, parts, &lo, &hi);
    if (lo < hi) kernels.dwconv(d, lo, hi);
    return;
  }

  GemmArgs g;
  g.n = layer.n;
  g.k = layer.k;
  g.ldc = static_cast<size_t>(l.out_c);
  g.epi = epi;
  if (layer.kind == ConvKind::gemm) {
    g.a = in;
    g.lda = static_cast<size_t>(layer.k);
    g.b = layer.weights.data();
    g.c = out;
    // Few pixels (the 7x7 stages, the embedding layers): split the output
    // channels instead of the rows.
    if (layer.m >= parts * kernels.mr * 4 || parts == 1) {
      int lo, hi;
      split(layer.m, kernels.mr, part, parts, &lo, &hi);
      if (lo < hi) kernels.gemm(g, lo, hi, 0, layer.panels);
    } else {
      int lo, hi;
      split(layer.panels, 1, part, parts, &lo, &hi);
      if (lo < hi) kernels.gemm(g, 0, layer.m, lo, hi);
    }
    return;
  }

  // im2col: this participant's rows, a chunk at a time, each group in turn.
  int lo, hi;
  split(layer.m, kernels.mr, part, parts, &lo, &hi);
  const size_t panel_floats = static_cast<size_t>(layer.k) * kernels.nr;
  const size_t group_cols = static_cast<size_t>(layer.panels) * kernels.nr;
  for (int m0 = lo; m0 < hi; m0 += layer.chunk_rows) {
    const int m1 = std::min(hi, m0 + layer.chunk_rows);
    for (int grp = 0; grp < l.group; ++grp) {
      im2col(l, in, grp, m0, m1, scratch);
      // The chunk's rows are rows [0, m1 - m0) of this GEMM.
      const size_t first = static_cast<size_t>(m0) * l.out_c + grp * layer.n;
      GemmArgs gg = g;
      gg.a = scratch;
      gg.lda = static_cast<size_t>(layer.k);
      gg.b = layer.weights.data() + grp * layer.panels * panel_floats;
      gg.c = out + first;
      gg.epi.bias = epi.bias + grp * group_cols;
      gg.epi.slope = epi.slope ? epi.slope + grp * group_cols : nullptr;
      gg.epi.res = res ? res + first : nullptr;
      kernels.gemm(gg, 0, m1 - m0, 0, layer.panels);
    }
  }
}

}  // namespace cpu
}  // namespace mfn
