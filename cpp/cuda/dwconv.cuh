// Depthwise kxk convolution on NHWC FP16 (the 3x3 s1/s2 layers of the
// inverted-residual blocks and the 7x7 GDConv; any size, stride, padding,
// dilation). One thread computes 8 channels of one output pixel with 16-byte
// loads; FP32 accumulation; bias + PReLU + residual fused. Needs c % 8 == 0.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace mfn_cuda {

struct DwconvParams {
  const __half* x;          // [batch][in_h][in_w][c]
  const __half* w;          // [kernel_h][kernel_w][c]
  const float* bias;        // [c]
  const float* slope;       // [c] or null
  const __half* residual;   // [batch][out_h][out_w][c] or null
  __half* y;                // [batch][out_h][out_w][c]
  int batch, c, in_h, in_w, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
  bool residual_after_act;
};

cudaError_t launch_dwconv(const DwconvParams& p, cudaStream_t stream);

}  // namespace mfn_cuda
