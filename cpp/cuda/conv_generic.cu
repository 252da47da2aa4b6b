#include "cuda/conv_generic.cuh"

#include "cuda/common.cuh"

namespace mfn_cuda {
namespace {

constexpr int kThreads = 256;

__global__ void __launch_bounds__(kThreads) conv_generic_kernel(const ConvGenericParams p) {
  const long long total = static_cast<long long>(p.batch) * p.g.out_h * p.g.out_w * p.g.out_c;
  const long long index = static_cast<long long>(blockIdx.x) * kThreads + threadIdx.x;
  if (index >= total) return;
  const int co = static_cast<int>(index % p.g.out_c);
  long long pixel = index / p.g.out_c;
  const int ox = static_cast<int>(pixel % p.g.out_w);
  pixel /= p.g.out_w;
  const int oy = static_cast<int>(pixel % p.g.out_h);
  const int n = static_cast<int>(pixel / p.g.out_h);

  const int in_per_group = p.g.in_c / p.group;
  const int out_per_group = p.g.out_c / p.group;
  const int ci0 = (co / out_per_group) * in_per_group;
  const __half* image = p.x + static_cast<size_t>(n) * p.g.in_h * p.g.in_w * p.g.in_c;
  const float* wco = p.w + static_cast<size_t>(co) * in_per_group * p.g.kernel_h * p.g.kernel_w;
  float acc = 0.f;
  for_each_tap(p.g, oy, ox, [&](int iy, int ix, int ky, int kx) {
    const __half* px = image + (static_cast<size_t>(iy) * p.g.in_w + ix) * p.g.in_c + ci0;
    for (int ci = 0; ci < in_per_group; ++ci) {
      acc = fmaf(__half2float(px[ci]), wco[(static_cast<size_t>(ci) * p.g.kernel_h + ky) * p.g.kernel_w + kx], acc);
    }
  });
  const float v = epilogue1(acc, p.bias[co], p.slope, p.residual ? p.residual + index : nullptr,
                            p.residual_after_act, co);
  p.y[index] = __float2half_rn(v);
}

}  // namespace

cudaError_t launch_conv_generic(const ConvGenericParams& p, cudaStream_t stream) {
  const long long total = static_cast<long long>(p.batch) * p.g.out_h * p.g.out_w * p.g.out_c;
  if (total <= 0) return cudaSuccess;
  const long long blocks = (total + kThreads - 1) / kThreads;
  conv_generic_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mfn_cuda
