#include "cuda/stem_conv.cuh"

#include "cuda/common.cuh"

namespace mfn_cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxInputChannels = 4;

__global__ void __launch_bounds__(kThreads) stem_conv_kernel(const StemParams p) {
  extern __shared__ float4 smem_w4[];
  float* w = reinterpret_cast<float*>(smem_w4);
  const int weight_count = p.g.kernel_h * p.g.kernel_w * p.g.in_c * p.g.out_c;
  for (int i = threadIdx.x; i < weight_count; i += kThreads) w[i] = p.w[i];
  __syncthreads();

  PixelGroup at;
  if (!pixel_group(kThreads, p.batch, p.g.out_h, p.g.out_w, p.g.out_c / kVec, &at)) return;
  const int n = at.n, oy = at.oy, ox = at.ox;
  const int co0 = at.group * kVec;

  float acc[kVec] = {0, 0, 0, 0, 0, 0, 0, 0};
  const __half* image = p.x + static_cast<size_t>(n) * p.g.in_h * p.g.in_w * p.g.in_c;
  for_each_tap(p.g, oy, ox, [&](int iy, int ix, int ky, int kx) {
    const __half* px = image + (static_cast<size_t>(iy) * p.g.in_w + ix) * p.g.in_c;
    const float* tap = w + (ky * p.g.kernel_w + kx) * p.g.in_c * p.g.out_c + co0;
    for (int ci = 0; ci < p.g.in_c && ci < kMaxInputChannels; ++ci) {
      const float xv = __half2float(px[ci]);
      const float4 w0 = *reinterpret_cast<const float4*>(tap + ci * p.g.out_c);
      const float4 w1 = *reinterpret_cast<const float4*>(tap + ci * p.g.out_c + 4);
      acc[0] = fmaf(xv, w0.x, acc[0]);
      acc[1] = fmaf(xv, w0.y, acc[1]);
      acc[2] = fmaf(xv, w0.z, acc[2]);
      acc[3] = fmaf(xv, w0.w, acc[3]);
      acc[4] = fmaf(xv, w1.x, acc[4]);
      acc[5] = fmaf(xv, w1.y, acc[5]);
      acc[6] = fmaf(xv, w1.z, acc[6]);
      acc[7] = fmaf(xv, w1.w, acc[7]);
    }
  });
  const size_t out = static_cast<size_t>(at.index) * kVec;
  epilogue8(acc, p.bias + co0, p.slope ? p.slope + co0 : nullptr, p.residual ? p.residual + out : nullptr,
            p.residual_after_act, p.y + out);
}

}  // namespace

cudaError_t launch_stem_conv(const StemParams& p, cudaStream_t stream) {
  const long long total = static_cast<long long>(p.batch) * p.g.out_h * p.g.out_w * (p.g.out_c / kVec);
  if (total <= 0) return cudaSuccess;
  const size_t smem = static_cast<size_t>(p.g.kernel_h) * p.g.kernel_w * p.g.in_c * p.g.out_c * sizeof(float);
  const long long blocks = (total + kThreads - 1) / kThreads;
  stem_conv_kernel<<<static_cast<unsigned>(blocks), kThreads, smem, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mfn_cuda
