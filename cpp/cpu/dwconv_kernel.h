// Depthwise convolution (channel multiplier 1) on NHWC activations, written
// once over a vector type V and instantiated per ISA like gemm_kernel.h.
// Vectorised over channels: a block of NB vectors of channels is carried
// along an output row; for 3x3 kernels its 9 taps of weights stay in
// registers. Bias, PReLU and residual are fused into the store.
#pragma once

#include <cstddef>

#include "cpu/kernels.h"

namespace mfn {
namespace cpu {
namespace {

template <class V, int NB, bool K3>
void dw_block_row(const DwArgs& d, int oy, int cb) {
  using R = typename V::reg;
  constexpr int W = V::width;
  const int c = d.c;
  const int kh = K3 ? 3 : d.kh;
  const int kw = K3 ? 3 : d.kw;
  const Epilogue& e = d.epi;

  R w3[K3 ? 9 : 1][NB];
  if constexpr (K3) {
#pragma GCC unroll 9
    for (int t = 0; t < 9; ++t)
#pragma GCC unroll 8
      for (int v = 0; v < NB; ++v) w3[t][v] = V::load(d.w + t * c + cb + v * W);
  }
  R bias[NB], slope[NB];
#pragma GCC unroll 8
  for (int v = 0; v < NB; ++v) {
    bias[v] = V::load(e.bias + cb + v * W);
    slope[v] = e.slope ? V::load(e.slope + cb + v * W) : V::set1(0.0f);
  }

  const int iy0 = oy * d.sh - d.pad_top;
  const size_t row_off = static_cast<size_t>(oy) * d.out_w * c;
  for (int ox = 0; ox < d.out_w; ++ox) {
    const int ix0 = ox * d.sw - d.pad_left;
    R acc[NB];
#pragma GCC unroll 8
    for (int v = 0; v < NB; ++v) acc[v] = bias[v];
#pragma GCC unroll 3
    for (int ky = 0; ky < kh; ++ky) {
      const int iy = iy0 + ky * d.dh;
      if (iy < 0 || iy >= d.in_h) continue;
      const float* row = d.in + static_cast<size_t>(iy) * d.in_w * c + cb;
#pragma GCC unroll 3
      for (int kx = 0; kx < kw; ++kx) {
        const int ix = ix0 + kx * d.dw;
        if (ix < 0 || ix >= d.in_w) continue;
        const float* px = row + static_cast<size_t>(ix) * c;
#pragma GCC unroll 8
        for (int v = 0; v < NB; ++v) {
          const R wv = K3 ? w3[ky * 3 + kx][v] : V::load(d.w + (ky * kw + kx) * c + cb + v * W);
          acc[v] = V::fma(V::load(px + v * W), wv, acc[v]);
        }
      }
    }
    const size_t off = row_off + static_cast<size_t>(ox) * c + cb;
#pragma GCC unroll 8
    for (int v = 0; v < NB; ++v) {
      R x = acc[v];
      if (e.res && !e.res_after) x = V::add(x, V::load(e.res + off + v * W));
      if (e.slope) x = V::prelu(x, slope[v]);
      if (e.res && e.res_after) x = V::add(x, V::load(e.res + off + v * W));
      V::store(d.out + off + v * W, x);
    }
  }
}

// Channels [c0, c) that do not fill a vector.
inline void dw_scalar_row(const DwArgs& d, int oy, int c0) {
  const int c = d.c;
  const Epilogue& e = d.epi;
  const int iy0 = oy * d.sh - d.pad_top;
  for (int ox = 0; ox < d.out_w; ++ox) {
    const int ix0 = ox * d.sw - d.pad_left;
    const size_t off = (static_cast<size_t>(oy) * d.out_w + ox) * c;
    for (int ch = c0; ch < c; ++ch) {
      float x = e.bias[ch];
      for (int ky = 0; ky < d.kh; ++ky) {
        const int iy = iy0 + ky * d.dh;
        if (iy < 0 || iy >= d.in_h) continue;
        for (int kx = 0; kx < d.kw; ++kx) {
          const int ix = ix0 + kx * d.dw;
          if (ix < 0 || ix >= d.in_w) continue;
          x += d.in[(static_cast<size_t>(iy) * d.in_w + ix) * c + ch] * d.w[(ky * d.kw + kx) * c + ch];
        }
      }
      if (e.res && !e.res_after) x += e.res[off + ch];
      if (e.slope && x < 0.0f) x *= e.slope[ch];
      if (e.res && e.res_after) x += e.res[off + ch];
      d.out[off + ch] = x;
    }
  }
}

template <class V, int NB, bool K3>
int dw_blocks(const DwArgs& d, int oy, int cb) {
  constexpr int CB = V::width * NB;
  for (; cb + CB <= d.c; cb += CB) dw_block_row<V, NB, K3>(d, oy, cb);
  return cb;
}

template <class V, int NB>
void dwconv(const DwArgs& d, int oy_begin, int oy_end) {
  const bool k3 = d.kh == 3 && d.kw == 3;
  for (int oy = oy_begin; oy < oy_end; ++oy) {
    int cb = k3 ? dw_blocks<V, NB, true>(d, oy, 0) : dw_blocks<V, NB, false>(d, oy, 0);
    cb = k3 ? dw_blocks<V, 1, true>(d, oy, cb) : dw_blocks<V, 1, false>(d, oy, cb);
    if (cb < d.c) dw_scalar_row(d, oy, cb);
  }
}

}  // namespace
}  // namespace cpu
}  // namespace mfn
