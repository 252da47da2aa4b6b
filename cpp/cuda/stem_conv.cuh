// Dense convolution with few input channels (the 3x3/s2 stem that reads the
// 3-channel network input) on NHWC FP16. Weights live in shared memory as
// FP32 [y][x][ci][co]; one thread computes 8 output channels of one pixel.
// Needs in_c <= 4, out_c % 8 == 0 and at most 48 KB of weights.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/conv_geometry.h"

namespace mfn_cuda {

struct StemParams {
  const __half* x;          // [batch][in_h][in_w][in_c]
  const float* w;           // [kernel_h][kernel_w][in_c][out_c]
  const float* bias;        // [out_c]
  const float* slope;       // [out_c] or null
  const __half* residual;   // [batch][out_h][out_w][out_c] or null
  __half* y;
  int batch;
  ConvGeometry g;
  bool residual_after_act;
};

cudaError_t launch_stem_conv(const StemParams& p, cudaStream_t stream);

}  // namespace mfn_cuda
