// Depthwise kxk convolution on NHWC FP16 (the 3x3 s1/s2 layers of the
// inverted-residual blocks and the 7x7 GDConv; any size, stride, padding,
// dilation). One thread computes 8 channels of one output pixel with 16-byte
// loads; FP32 accumulation; bias + PReLU + residual fused. Needs c % 8 == 0.
// depthwise8() is also the A-operand producer of the 1x1 GEMM when a
// depthwise layer is fused into the projection that follows it.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace mfn_cuda {

struct DwGeometry {
  int c, in_h, in_w, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
};

struct DwconvParams {
  const __half* x;          // [batch][in_h][in_w][c]
  const __half* w;          // [kernel_h][kernel_w][c]
  const float* bias;        // [c]
  const float* slope;       // [c] or null
  const __half* residual;   // [batch][out_h][out_w][c] or null
  __half* y;                // [batch][out_h][out_w][c]
  int batch;
  DwGeometry g;
  bool residual_after_act;
};

cudaError_t launch_dwconv(const DwconvParams& p, cudaStream_t stream);

#ifdef __CUDACC__
// acc[0..8) += the depthwise sums of channels [c0, c0+8) at output pixel
// (n, oy, ox); taps outside the input are zero padding.
__device__ __forceinline__ void depthwise8(const __half* __restrict__ x, const __half* __restrict__ w,
                                           const DwGeometry& g, int n, int oy, int ox, int c0, float acc[8]) {
  const __half* image = x + static_cast<size_t>(n) * g.in_h * g.in_w * g.c + c0;
  const int iy0 = oy * g.stride_h - g.pad_top;
  const int ix0 = ox * g.stride_w - g.pad_left;
  for (int ky = 0; ky < g.kernel_h; ++ky) {
    const int iy = iy0 + ky * g.dilation_h;
    if (iy < 0 || iy >= g.in_h) continue;
    const __half* row = image + static_cast<size_t>(iy) * g.in_w * g.c;
    const __half* wrow = w + static_cast<size_t>(ky) * g.kernel_w * g.c + c0;
    for (int kx = 0; kx < g.kernel_w; ++kx) {
      const int ix = ix0 + kx * g.dilation_w;
      if (ix < 0 || ix >= g.in_w) continue;
      const uint4 xv = *reinterpret_cast<const uint4*>(row + static_cast<size_t>(ix) * g.c);
      const uint4 wv = __ldg(reinterpret_cast<const uint4*>(wrow + static_cast<size_t>(kx) * g.c));
      const __half2* xh = reinterpret_cast<const __half2*>(&xv);
      const __half2* wh = reinterpret_cast<const __half2*>(&wv);
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float2 xf = __half22float2(xh[i]);
        const float2 wf = __half22float2(wh[i]);
        acc[2 * i] = fmaf(xf.x, wf.x, acc[2 * i]);
        acc[2 * i + 1] = fmaf(xf.y, wf.y, acc[2 * i + 1]);
      }
    }
  }
}
#endif  // __CUDACC__

}  // namespace mfn_cuda
