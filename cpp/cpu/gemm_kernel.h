// The register-blocked GEMM with the fused conv epilogue, written once over a
// vector type V (vec_*.h) and instantiated by each ISA's kernels_*.cc. A
// micro-tile is MR rows (pixels) x NV vectors (output channels) of
// accumulators that live in registers for the whole k loop; A elements are
// broadcast, B rows come from the packed panel. Internal linkage: each ISA's
// translation unit gets its own copy. No standard-library templates here
// (they would be instantiated with that TU's ISA flags).
#pragma once

#include <cstddef>

#include "cpu/kernels.h"

namespace mfn {
namespace cpu {
namespace {

template <class V, int MR, int NV>
void gemm_tile(const GemmArgs& g, int m, int panel) {
  using R = typename V::reg;
  constexpr int W = V::width;
  constexpr int NR = W * NV;
  const int col = panel * NR;
  const float* a = g.a + static_cast<size_t>(m) * g.lda;
  const float* b = g.b + static_cast<size_t>(panel) * g.k * NR;
  const Epilogue& e = g.epi;

  R acc[MR][NV];
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    const R bias = V::load(e.bias + col + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) acc[r][v] = bias;
  }
  for (int kk = 0; kk < g.k; ++kk) {
    R bv[NV];
#pragma GCC unroll 16
    for (int v = 0; v < NV; ++v) bv[v] = V::load(b + kk * NR + v * W);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const R av = V::set1(a[r * g.lda + kk]);
#pragma GCC unroll 16
      for (int v = 0; v < NV; ++v) acc[r][v] = V::fma(av, bv[v], acc[r][v]);
    }
  }

  float* c = g.c + static_cast<size_t>(m) * g.ldc + col;
  const float* res = e.res ? e.res + static_cast<size_t>(m) * e.ldr + col : nullptr;
  const int n_valid = g.n - col < NR ? g.n - col : NR;
  // A vector of the last, partial panel is loaded and stored masked (its
  // lanes past n are neither read nor written); bias and slope are padded.
#pragma GCC unroll 16
  for (int v = 0; v < NV; ++v) {
    const int lanes = n_valid - v * W;
    if (lanes <= 0) break;
    const R slope = e.slope ? V::load(e.slope + col + v * W) : V::set1(0.0f);
    if (lanes >= W) {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        R x = acc[r][v];
        if (res && !e.res_after) x = V::add(x, V::load(res + r * e.ldr + v * W));
        if (e.slope) x = V::prelu(x, slope);
        if (res && e.res_after) x = V::add(x, V::load(res + r * e.ldr + v * W));
        V::store(c + r * g.ldc + v * W, x);
      }
    } else {
#pragma GCC unroll 16
      for (int r = 0; r < MR; ++r) {
        R x = acc[r][v];
        if (res && !e.res_after) x = V::add(x, V::load_n(res + r * e.ldr + v * W, lanes));
        if (e.slope) x = V::prelu(x, slope);
        if (res && e.res_after) x = V::add(x, V::load_n(res + r * e.ldr + v * W, lanes));
        V::store_n(c + r * g.ldc + v * W, x, lanes);
      }
    }
  }
}

// Rows [m, m+rows) with rows < MR: one smaller tile, chosen at run time.
template <class V, int MR, int NV>
void gemm_tail(const GemmArgs& g, int m, int rows, int panel) {
  if constexpr (MR > 1) {
    if (rows == MR - 1) return gemm_tile<V, MR - 1, NV>(g, m, panel);
    return gemm_tail<V, MR - 1, NV>(g, m, rows, panel);
  }
}

template <class V, int MR, int NV>
void gemm(const GemmArgs& g, int m_begin, int m_end, int p_begin, int p_end) {
  int m = m_begin;
  for (; m + MR <= m_end; m += MR)
    for (int p = p_begin; p < p_end; ++p) gemm_tile<V, MR, NV>(g, m, p);
  if (m < m_end)
    for (int p = p_begin; p < p_end; ++p) gemm_tail<V, MR, NV>(g, m, m_end - m, p);
}

}  // namespace
}  // namespace cpu
}  // namespace mfn
