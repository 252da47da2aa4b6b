// 1x1 convolution (and dense layers) as a tensor-core GEMM on NHWC FP16:
// C[m][n] = epilogue(sum_k A[m][k] * B[n][k]) with m = pixel, n = output
// channel, k = input channel (or y, x, channel of a dense layer's whole
// input). FP16 operands, FP32 accumulation, bias + PReLU + residual fused in
// the epilogue. Needs k % 8 == 0 and n % 8 == 0 (16-byte rows).
//
// Fused variant: when dw_x is set, A is never read from memory. It is the
// output of the depthwise layer that precedes this 1x1 conv in the network
// (an inverted-residual block's depthwise -> projection, or the GDConv ->
// embedding layer), computed while the tile is loaded:
// A[m][k] = PReLU(dw_bias[k] + depthwise(dw_x)[pixel m][k]). That tensor,
// the largest traffic of the block, then never goes to memory.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/dwconv.cuh"

namespace mfn_cuda {

struct Conv1x1Params {
  const __half* a;          // [m][k] activations (null when fused)
  const __half* b;          // [n][k] weights
  const float* bias;        // [n]
  const float* slope;       // [n] PReLU slopes, or null (linear)
  const __half* residual;   // [m][n], or null
  __half* c;                // [m][n]
  int m, n, k;
  bool residual_after_act;
  // The fused depthwise producer (dw_x == null: plain GEMM). dw.c == k and
  // m == batch * dw.out_h * dw.out_w.
  const __half* dw_x;       // [batch][dw.in_h][dw.in_w][k]
  const __half* dw_w;       // [dw.kernel_h][dw.kernel_w][k]
  const float* dw_bias;     // [k]
  const float* dw_slope;    // [k] or null
  DwGeometry dw;
};

// Enqueues the GEMM on `stream`; returns the launch error, if any.
cudaError_t launch_conv1x1(const Conv1x1Params& p, cudaStream_t stream);

}  // namespace mfn_cuda
