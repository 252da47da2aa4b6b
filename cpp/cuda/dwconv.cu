#include "cuda/dwconv.cuh"

#include "cuda/common.cuh"

namespace mfn_cuda {
namespace {

constexpr int kThreads = 256;

// One thread per 8 channels of one output pixel (pixel_group: a warp reads
// whole pixels, coalesced); neighbouring warps share taps through L1.
__global__ void __launch_bounds__(kThreads) dwconv_kernel(const DwconvParams p) {
  const DwGeometry& g = p.g;
  PixelGroup at;
  if (!pixel_group(kThreads, p.batch, g.out_h, g.out_w, g.c / kVec, &at)) return;
  const int c0 = at.group * kVec;

  float acc[kVec] = {0, 0, 0, 0, 0, 0, 0, 0};
  depthwise8(p.x, p.w, g, at.n, at.oy, at.ox, c0, acc);
  const size_t out = static_cast<size_t>(at.index) * kVec;  // NHWC: pixel-major, channel groups inside
  epilogue8(acc, p.bias + c0, p.slope ? p.slope + c0 : nullptr, p.residual ? p.residual + out : nullptr,
            p.residual_after_act, p.y + out);
}

}  // namespace

cudaError_t launch_dwconv(const DwconvParams& p, cudaStream_t stream) {
  const long long total = static_cast<long long>(p.batch) * p.g.out_h * p.g.out_w * (p.g.c / kVec);
  if (total <= 0) return cudaSuccess;
  const long long blocks = (total + kThreads - 1) / kThreads;
  dwconv_kernel<<<static_cast<unsigned>(blocks), kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mfn_cuda
