#include "cuda/conv_generic.cuh"

#include "cuda/common.cuh"

namespace mfn_cuda {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) conv_generic_kernel(const ConvGenericParams p) {
  const long long total = static_cast<long long>(p.batch) * p.out_h * p.out_w * p.out_c;
  const long long index = static_cast<long long>(blockIdx.x) * kThreads + threadIdx.x;
  if (index >= total) return;
  const int co = static_cast<int>(index % p.out_c);
  long long pixel = index / p.out_c;
  const int ox = static_cast<int>(pixel % p.out_w);
  pixel /= p.out_w;
  const int oy = static_cast<int>(pixel % p.out_h);
  const int n = static_cast<int>(pixel / p.out_h);

  const int in_per_group = p.in_c / p.group;
  const int out_per_group = p.out_c / p.group;
  const int ci0 = (co / out_per_group) * in_per_group;
  const __half* image = p.x + static_cast<size_t>(n) * p.in_h * p.in_w * p.in_c;
  const float* wco = p.w + static_cast<size_t>(co) * in_per_group * p.kernel_h * p.kernel_w;
  float acc = 0.f;
  for (int ky = 0; ky < p.kernel_h; ++ky) {
    const int iy = oy * p.stride_h - p.pad_top + ky * p.dilation_h;
    if (iy < 0 || iy >= p.in_h) continue;
    for (int kx = 0; kx < p.kernel_w; ++kx) {
      const int ix = ox * p.stride_w - p.pad_left + kx * p.dilation_w;
      if (ix < 0 || ix >= p.in_w) continue;
      const __half* px = image + (static_cast<size_t>(iy) * p.in_w + ix) * p.in_c + ci0;
      for (int ci = 0; ci < in_per_group; ++ci) {
        acc = fmaf(__half2float(px[ci]), wco[(static_cast<size_t>(ci) * p.kernel_h + ky) * p.kernel_w + kx], acc);
      }
    }
  }
  const float v = epilogue1(acc, p.bias[co], p.slope, p.residual ? p.residual + index : nullptr,
                            p.residual_after_act, co);
  p.y[index] = __float2half_rn(v);
}

}  // namespace

cudaError_t launch_conv_generic(const ConvGenericParams& p, cudaStream_t stream) {
  const long long total = static_cast<long long>(p.batch) * p.out_h * p.out_w * p.out_c;
  if (total <= 0) return cudaSuccess;
  const long long blocks = (total + kThreads - 1) / kThreads;
  conv_generic_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mfn_cuda
