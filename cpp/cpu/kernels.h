// The compute kernels of the CPU backend and their arguments. Each ISA
// (AVX-512, AVX2+FMA, portable scalar) provides one Kernels table; isa.h
// picks the best the running CPU supports. All activations are NHWC float
// for one image; kernels are called by one thread on a slice of the output.
#pragma once

#include <cstddef>

namespace mfn {
namespace cpu {

// The fused epilogue every conv shares, per output channel n:
//   x = acc + bias[n]; x += res (when !res_after); x = prelu(x, slope[n]);
//   x += res (when res_after).
// slope == nullptr: linear. res == nullptr: no residual.
struct Epilogue {
  const float* bias = nullptr;   // [padded n]
  const float* slope = nullptr;  // [padded n] or nullptr
  const float* res = nullptr;    // residual rows, same indexing as c
  size_t ldr = 0;
  bool res_after = false;
};

// C[m][n] = epilogue(sum_k A[m][k] * B[k][n]) for rows [m_begin, m_end) and
// column panels [p_begin, p_end). B is packed by pack_gemm_b() with the
// table's nr: panel p holds columns [p*nr, p*nr+nr) as k rows of nr floats,
// zero-padded past n. Columns >= n are never written.
struct GemmArgs {
  int n = 0, k = 0;
  const float* a = nullptr;
  size_t lda = 0;
  const float* b = nullptr;      // packed panels
  float* c = nullptr;
  size_t ldc = 0;
  Epilogue epi;                  // bias/slope padded to the panel count * nr
};

// The window of a depthwise conv or a pool over one NHWC image: input and
// output sizes, kernel, stride and the leading padding.
struct WindowArgs {
  const float* in = nullptr;
  int in_h = 0, in_w = 0, c = 0;
  float* out = nullptr;
  int out_h = 0, out_w = 0;
  int kh = 0, kw = 0, sh = 1, sw = 1, pad_top = 0, pad_left = 0;
};

// Depthwise conv (channel multiplier 1), NHWC, output rows
// [oy_begin, oy_end). Weights packed [kh*kw][c] (tap-major).
struct DwArgs : WindowArgs {
  int dh = 1, dw = 1;
  const float* w = nullptr;
  Epilogue epi;                  // residual indexed like out (ldr == c)
};

// Max pooling, NHWC, output rows [oy_begin, oy_end); taps in the padding
// are skipped (never win the max).
struct PoolArgs : WindowArgs {};

using GemmFn = void (*)(const GemmArgs& args, int m_begin, int m_end, int p_begin, int p_end);
using DwFn = void (*)(const DwArgs& args, int oy_begin, int oy_end);
using PoolFn = void (*)(const PoolArgs& args, int oy_begin, int oy_end);

struct Kernels {
  const char* name;   // "avx512", "avx2", "scalar"
  int nr;             // GEMM panel width (columns of B per packed panel)
  int mr;             // GEMM rows per micro-tile (slices should be multiples)
  GemmFn gemm;
  DwFn dwconv;
  PoolFn maxpool;
};

const Kernels& kernels_generic();
#if defined(MFN_X86)
const Kernels& kernels_avx2();
const Kernels& kernels_avx512();
#endif

}  // namespace cpu
}  // namespace mfn
