// The fallback convolution: any group count, kernel, stride, padding and
// dilation, any channel count, FP32 weights in the model's own layout
// [out_c][in_c/group][kh][kw]. One thread per output value; slow but exact,
// so a layer the fast kernels do not cover still gets the right answer.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/conv_geometry.h"

namespace mfn_cuda {

struct ConvGenericParams {
  const __half* x;          // [batch][in_h][in_w][in_c]
  const float* w;           // [out_c][in_c/group][kernel_h][kernel_w]
  const float* bias;        // [out_c]
  const float* slope;       // [out_c] or null
  const __half* residual;   // [batch][out_h][out_w][out_c] or null
  __half* y;
  int batch;
  ConvGeometry g;
  int group;
  bool residual_after_act;
};

cudaError_t launch_conv_generic(const ConvGenericParams& p, cudaStream_t stream);

}  // namespace mfn_cuda
