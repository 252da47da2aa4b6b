#include "cuda/dwconv.cuh"

#include "cuda/common.cuh"

namespace mfn_cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ void fma8(float acc[kVec], uint4 x, uint4 w) {
  const __half2* xh = reinterpret_cast<const __half2*>(&x);
  const __half2* wh = reinterpret_cast<const __half2*>(&w);
#pragma unroll
  for (int i = 0; i < kVec / 2; ++i) {
    const float2 xf = __half22float2(xh[i]);
    const float2 wf = __half22float2(wh[i]);
    acc[2 * i] = fmaf(xf.x, wf.x, acc[2 * i]);
    acc[2 * i + 1] = fmaf(xf.y, wf.y, acc[2 * i + 1]);
  }
}

// Consecutive threads take consecutive channel groups of the same pixel, so
// a warp reads whole pixels (coalesced) and neighbouring warps share taps
// through L1.
__global__ void __launch_bounds__(kThreads) dwconv_kernel(const DwconvParams p) {
  const int groups = p.c / kVec;
  const long long total = static_cast<long long>(p.batch) * p.out_h * p.out_w * groups;
  const long long index = static_cast<long long>(blockIdx.x) * kThreads + threadIdx.x;
  if (index >= total) return;
  const int g = static_cast<int>(index % groups);
  long long pixel = index / groups;
  const int ox = static_cast<int>(pixel % p.out_w);
  pixel /= p.out_w;
  const int oy = static_cast<int>(pixel % p.out_h);
  const int n = static_cast<int>(pixel / p.out_h);
  const int c0 = g * kVec;

  float acc[kVec] = {0, 0, 0, 0, 0, 0, 0, 0};
  const __half* image = p.x + static_cast<size_t>(n) * p.in_h * p.in_w * p.c + c0;
  const int iy0 = oy * p.stride_h - p.pad_top;
  const int ix0 = ox * p.stride_w - p.pad_left;
  for (int ky = 0; ky < p.kernel_h; ++ky) {
    const int iy = iy0 + ky * p.dilation_h;
    if (iy < 0 || iy >= p.in_h) continue;
    const __half* row = image + static_cast<size_t>(iy) * p.in_w * p.c;
    const __half* wrow = p.w + static_cast<size_t>(ky) * p.kernel_w * p.c + c0;
    for (int kx = 0; kx < p.kernel_w; ++kx) {
      const int ix = ix0 + kx * p.dilation_w;
      if (ix < 0 || ix >= p.in_w) continue;
      const uint4 xv = *reinterpret_cast<const uint4*>(row + static_cast<size_t>(ix) * p.c);
      const uint4 wv = __ldg(reinterpret_cast<const uint4*>(wrow + static_cast<size_t>(kx) * p.c));
      fma8(acc, xv, wv);
    }
  }
  const size_t out = static_cast<size_t>(index) * kVec;  // NHWC: pixel-major, channel groups inside
  epilogue8(acc, p.bias + c0, p.slope ? p.slope + c0 : nullptr, p.residual ? p.residual + out : nullptr,
            p.residual_after_act, p.y + out);
}

}  // namespace

cudaError_t launch_dwconv(const DwconvParams& p, cudaStream_t stream) {
  const long long total = static_cast<long long>(p.batch) * p.out_h * p.out_w * (p.c / kVec);
  if (total <= 0) return cudaSuccess;
  const long long blocks = (total + kThreads - 1) / kThreads;
  dwconv_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mfn_cuda
