// 1x1 convolution (and dense layers) as a tensor-core GEMM on NHWC FP16:
// C[m][n] = epilogue(sum_k A[m][k] * B[n][k]) with m = pixel, n = output
// channel, k = input channel (or y, x, channel of a dense layer's whole
// input). FP16 operands, FP32 accumulation, bias + PReLU + residual fused in
// the epilogue. Needs k % 8 == 0 and n % 8 == 0 (16-byte rows).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace mfn_cuda {

struct Conv1x1Params {
  const __half* a;          // [m][k] activations
  const __half* b;          // [n][k] weights
  const float* bias;        // [n]
  const float* slope;       // [n] PReLU slopes, or null (linear)
  const __half* residual;   // [m][n], or null
  __half* c;                // [m][n]
  int m, n, k;
  bool residual_after_act;
};

// Enqueues the GEMM on `stream`; returns the launch error, if any.
cudaError_t launch_conv1x1(const Conv1x1Params& p, cudaStream_t stream);

}  // namespace mfn_cuda
