#include "cuda/preprocess.cuh"

#include "cuda/common.cuh"
#include "mfn/abi.h"

namespace mfn_cuda {
namespace {

constexpr int kThreads = 256;

// The pixel at whole-image (x, y), channel c; outside the image it is the
// border's value. The rectangle clamp never changes a tap the host staged;
// it only keeps a rounding difference from reading outside the staged bytes.
__device__ __forceinline__ float fetch(const ImageDesc& d, int x, int y, int c) {
  if (x < 0 || y < 0 || x >= d.width || y >= d.height) {
    if (d.border == MFN_BORDER_ZERO) return 0.f;
    x = min(max(x, 0), d.width - 1);
    y = min(max(y, 0), d.height - 1);
  }
  const int rx = min(max(x - d.x0, 0), d.sub_w - 1);
  const int ry = min(max(y - d.y0, 0), d.sub_h - 1);
  return static_cast<float>(d.pixels[ry * d.row_stride + static_cast<int64_t>(rx) * d.channels + c]);
}

__global__ void __launch_bounds__(kThreads) preprocess_kernel(const PreprocessParams p) {
  const int image = blockIdx.x;
  const int pixel = blockIdx.y * kThreads + threadIdx.x;
  if (pixel >= p.width * p.height) return;
  const int dx = pixel % p.width;
  const int dy = pixel / p.width;
  const ImageDesc& d = p.images[image];

  float v[3] = {0.f, 0.f, 0.f};
  if (d.pixels) {
    const float sx = d.transform[0] * dx + d.transform[1] * dy + d.transform[2];
    const float sy = d.transform[3] * dx + d.transform[4] * dy + d.transform[5];
    const float fx0 = floorf(sx), fy0 = floorf(sy);
    const float ax = sx - fx0, ay = sy - fy0;
    // Far outside the image every tap is border; keep the int conversion in range.
    const int x0 = static_cast<int>(fminf(fmaxf(fx0, -2.f), static_cast<float>(d.width) + 1.f));
    const int y0 = static_cast<int>(fminf(fmaxf(fy0, -2.f), static_cast<float>(d.height) + 1.f));
#pragma unroll
    for (int k = 0; k < 3; ++k) {
      const int rgb = p.channel_src[k];
      const int c = d.order == MFN_ORDER_BGR ? 2 - rgb : rgb;
      // Same lerp form as the CPU reference (core/preprocess.cc).
      const float p00 = fetch(d, x0, y0, c), p10 = fetch(d, x0 + 1, y0, c);
      const float p01 = fetch(d, x0, y0 + 1, c), p11 = fetch(d, x0 + 1, y0 + 1, c);
      const float top = p00 + ax * (p10 - p00);
      const float bottom = p01 + ax * (p11 - p01);
      const float value = top + ay * (bottom - top);
      v[k] = value * p.scale[k] + p.bias[k];
    }
  }
  const size_t plane = static_cast<size_t>(p.height) * p.width * 3;
  const int pass = p.flip ? 2 * image : image;
  __half* out = p.x + pass * plane + (static_cast<size_t>(dy) * p.width + dx) * 3;
  out[0] = __float2half_rn(v[0]);
  out[1] = __float2half_rn(v[1]);
  out[2] = __float2half_rn(v[2]);
  if (p.flip) {
    __half* mirror = p.x + (pass + 1) * plane + (static_cast<size_t>(dy) * p.width + (p.width - 1 - dx)) * 3;
    mirror[0] = out[0];
    mirror[1] = out[1];
    mirror[2] = out[2];
  }
}

}  // namespace

cudaError_t launch_preprocess(const PreprocessParams& p, cudaStream_t stream) {
  if (p.count <= 0) return cudaSuccess;
  // Images on x (up to 2^31 - 1), pixel blocks on y (49 for 112x112).
  const dim3 grid(p.count, ceil_div(p.width * p.height, kThreads));
  preprocess_kernel<<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mfn_cuda
