// Depthwise convolution (channel multiplier 1) on NHWC activations, written
// once over a vector type V and instantiated per ISA like gemm_kernel.h.
// Vectorised over channels: a block of NB vectors of channels is carried
// along an output row; for 3x3 kernels its 9 taps of weights stay in
// registers and several output pixels are computed together. Bias, PReLU
// and residual are fused into the store.
#pragma once

#include <cstddef>

#include "cpu/kernels.h"

namespace mfn {
namespace cpu {
namespace {

// Bias, residual and PReLU for one vector of channels at element `off`.
template <class V>
inline void dw_store(const DwArgs& d, size_t off, typename V::reg x, typename V::reg slope) {
  const Epilogue& e = d.epi;
  if (e.res && !e.res_after) x = V::add(x, V::load(e.res + off));
  if (e.slope) x = V::prelu(x, slope);
  if (e.res && e.res_after) x = V::add(x, V::load(e.res + off));
  V::store(d.out + off, x);
}

// 3x3, dilation 1, stride S: PX adjacent output pixels of one channel block
// at once, so that with S == 1 each input column is loaded once for up to
// three outputs. rows[ky] is null for a row in the padding. check: some
// taps may fall in the horizontal padding.
template <class V, int NB, int S, int PX, bool check>
inline void dw3x3_pixels(const DwArgs& d, const float* const rows[3], const typename V::reg (&w)[9][NB],
                         const typename V::reg (&bias)[NB], const typename V::reg (&slope)[NB], size_t out_off,
                         int ox, int cb) {
  using R = typename V::reg;
  constexpr int W = V::width;
  const size_t c = static_cast<size_t>(d.c);
  const int ix0 = ox * S - d.pad_left;
  R acc[PX][NB];
#pragma GCC unroll 8
  for (int p = 0; p < PX; ++p)
#pragma GCC unroll 8
    for (int v = 0; v < NB; ++v) acc[p][v] = bias[v];
#pragma GCC unroll 3
  for (int ky = 0; ky < 3; ++ky) {
    const float* row = rows[ky];
    if (row == nullptr) continue;
#pragma GCC unroll 8
    for (int p = 0; p < PX; ++p) {
#pragma GCC unroll 3
      for (int kx = 0; kx < 3; ++kx) {
        const int ix = ix0 + p * S + kx;
        if (check && (ix < 0 || ix >= d.in_w)) continue;
        const float* px = row + static_cast<size_t>(ix) * c + cb;
#pragma GCC unroll 8
        for (int v = 0; v < NB; ++v) acc[p][v] = V::fma(V::load(px + v * W), w[ky * 3 + kx][v], acc[p][v]);
      }
    }
  }
#pragma GCC unroll 8
  for (int p = 0; p < PX; ++p)
#pragma GCC unroll 8
    for (int v = 0; v < NB; ++v)
      dw_store<V>(d, out_off + static_cast<size_t>(ox + p) * c + cb + v * W, acc[p][v], slope[v]);
}

template <class V, int NB, int S>
void dw3x3_block_row(const DwArgs& d, int oy, int cb) {
  using R = typename V::reg;
  constexpr int W = V::width;
  constexpr int PX = S == 1 ? 4 : 2;
  const int c = d.c;
  R w[9][NB], bias[NB], slope[NB];
#pragma GCC unroll 9
  for (int t = 0; t < 9; ++t)
#pragma GCC unroll 8
    for (int v = 0; v < NB; ++v) w[t][v] = V::load(d.w + t * c + cb + v * W);
#pragma GCC unroll 8
  for (int v = 0; v < NB; ++v) {
    bias[v] = V::load(d.epi.bias + cb + v * W);
    slope[v] = d.epi.slope ? V::load(d.epi.slope + cb + v * W) : V::set1(0.0f);
  }
  const float* rows[3];
  for (int ky = 0; ky < 3; ++ky) {
    const int iy = oy * d.sh - d.pad_top + ky;
    rows[ky] = iy >= 0 && iy < d.in_h ? d.in + static_cast<size_t>(iy) * d.in_w * c : nullptr;
  }
  // Output columns whose three taps all lie inside the input.
  int lo = (d.pad_left + S - 1) / S;
  int hi = d.in_w - 3 + d.pad_left >= 0 ? (d.in_w - 3 + d.pad_left) / S + 1 : 0;
  if (hi > d.out_w) hi = d.out_w;
  if (lo > hi) lo = hi;
  const size_t out_off = static_cast<size_t>(oy) * d.out_w * c;
  int ox = 0;
  for (; ox < lo; ++ox) dw3x3_pixels<V, NB, S, 1, true>(d, rows, w, bias, slope, out_off, ox, cb);
  for (; ox + PX <= hi; ox += PX) dw3x3_pixels<V, NB, S, PX, false>(d, rows, w, bias, slope, out_off, ox, cb);
  for (; ox < hi; ++ox) dw3x3_pixels<V, NB, S, 1, false>(d, rows, w, bias, slope, out_off, ox, cb);
  for (; ox < d.out_w; ++ox) dw3x3_pixels<V, NB, S, 1, true>(d, rows, w, bias, slope, out_off, ox, cb);
}

// Any kernel size, stride and dilation: weights read from memory per tap.
template <class V, int NB>
void dw_generic_block_row(const DwArgs& d, int oy, int cb) {
  using R = typename V::reg;
  constexpr int W = V::width;
  const int c = d.c;
  R bias[NB], slope[NB];
#pragma GCC unroll 8
  for (int v = 0; v < NB; ++v) {
    bias[v] = V::load(d.epi.bias + cb + v * W);
    slope[v] = d.epi.slope ? V::load(d.epi.slope + cb + v * W) : V::set1(0.0f);
  }
  const int iy0 = oy * d.sh - d.pad_top;
  const size_t out_off = static_cast<size_t>(oy) * d.out_w * c;
  for (int ox = 0; ox < d.out_w; ++ox) {
    const int ix0 = ox * d.sw - d.pad_left;
    R acc[NB];
#pragma GCC unroll 8
    for (int v = 0; v < NB; ++v) acc[v] = bias[v];
    for (int ky = 0; ky < d.kh; ++ky) {
      const int iy = iy0 + ky * d.dh;
      if (iy < 0 || iy >= d.in_h) continue;
      const float* row = d.in + static_cast<size_t>(iy) * d.in_w * c + cb;
      for (int kx = 0; kx < d.kw; ++kx) {
        const int ix = ix0 + kx * d.dw;
        if (ix < 0 || ix >= d.in_w) continue;
        const float* px = row + static_cast<size_t>(ix) * c;
        const float* wt = d.w + (ky * d.kw + kx) * c + cb;
#pragma GCC unroll 8
        for (int v = 0; v < NB; ++v) acc[v] = V::fma(V::load(px + v * W), V::load(wt + v * W), acc[v]);
      }
    }
#pragma GCC unroll 8
    for (int v = 0; v < NB; ++v) dw_store<V>(d, out_off + static_cast<size_t>(ox) * c + cb + v * W, acc[v], slope[v]);
  }
}

template <class V, int NB>
void dw_block_row(const DwArgs& d, int oy, int cb) {
  if (d.kh == 3 && d.kw == 3 && d.dh == 1 && d.dw == 1 && d.sw == 1) return dw3x3_block_row<V, NB, 1>(d, oy, cb);
  if (d.kh == 3 && d.kw == 3 && d.dh == 1 && d.dw == 1 && d.sw == 2) return dw3x3_block_row<V, NB, 2>(d, oy, cb);
  dw_generic_block_row<V, NB>(d, oy, cb);
}

// Channels [c0, c) that do not fill a vector: one masked vector per output
// pixel (lanes past c are neither read nor written).
template <class V>
void dw_tail_row(const DwArgs& d, int oy, int c0) {
  using R = typename V::reg;
  const int n = d.c - c0;
  const size_t c = static_cast<size_t>(d.c);
  const Epilogue& e = d.epi;
  const R bias = V::load_n(e.bias + c0, n);
  const R slope = e.slope ? V::load_n(e.slope + c0, n) : V::set1(0.0f);
  const int iy0 = oy * d.sh - d.pad_top;
  for (int ox = 0; ox < d.out_w; ++ox) {
    const int ix0 = ox * d.sw - d.pad_left;
    const size_t off = (static_cast<size_t>(oy) * d.out_w + ox) * c + c0;
    R acc = bias;
    for (int ky = 0; ky < d.kh; ++ky) {
      const int iy = iy0 + ky * d.dh;
      if (iy < 0 || iy >= d.in_h) continue;
      for (int kx = 0; kx < d.kw; ++kx) {
        const int ix = ix0 + kx * d.dw;
        if (ix < 0 || ix >= d.in_w) continue;
        acc = V::fma(V::load_n(d.in + (static_cast<size_t>(iy) * d.in_w + ix) * c + c0, n),
                     V::load_n(d.w + (ky * d.kw + kx) * c + c0, n), acc);
      }
    }
    if (e.res && !e.res_after) acc = V::add(acc, V::load_n(e.res + off, n));
    if (e.slope) acc = V::prelu(acc, slope);
    if (e.res && e.res_after) acc = V::add(acc, V::load_n(e.res + off, n));
    V::store_n(d.out + off, acc, n);
  }
}

template <class V, int NB>
void dwconv(const DwArgs& d, int oy_begin, int oy_end) {
  constexpr int W = V::width;
  for (int oy = oy_begin; oy < oy_end; ++oy) {
    int cb = 0;
    for (; cb + NB * W <= d.c; cb += NB * W) dw_block_row<V, NB>(d, oy, cb);
    for (; cb + W <= d.c; cb += W) dw_block_row<V, 1>(d, oy, cb);
    if (cb < d.c) dw_tail_row<V>(d, oy, cb);
  }
}

}  // namespace
}  // namespace cpu
}  // namespace mfn
