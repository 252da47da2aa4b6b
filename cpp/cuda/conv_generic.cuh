// The fallback convolution: any group count, kernel, stride, padding and
// dilation, any channel count, FP32 weights in the model's own layout
// [out_c][in_c/group][kh][kw]. One thread per output value; slow but exact,
// so a layer the fast kernels do not cover still gets the right answer.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace mfn_cuda {

struct ConvGenericParams {
  const __half* x;          // [batch][in_h][in_w][in_c]
  const float* w;           // [out_c][in_c/group][kernel_h][kernel_w]
  const float* bias;        // [out_c]
  const float* slope;       // [out_c] or null
  const __half* residual;   // [batch][out_h][out_w][out_c] or null
  __half* y;
  int batch, in_c, in_h, in_w, out_c, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w, group;
  bool residual_after_act;
};

cudaError_t launch_conv_generic(const ConvGenericParams& p, cudaStream_t stream);

}  // namespace mfn_cuda
