#include "cuda/maxpool.cuh"

#include "cuda/common.cuh"

namespace mfn_cuda {
namespace {

constexpr int kThreads = 256;

// The values are halves widened to float and narrowed back unchanged (the
// max is one of them), so comparing in float is comparing the halves.
__device__ __forceinline__ Lanes8 load8(const __half* p) {
  const uint4 raw = *reinterpret_cast<const uint4*>(p);
  const __half2* h = reinterpret_cast<const __half2*>(&raw);
  Lanes8 r;
#pragma unroll
  for (int i = 0; i < kVec / 2; ++i) {
    const float2 f = __half22float2(h[i]);
    r.v[2 * i] = f.x;
    r.v[2 * i + 1] = f.y;
  }
  return r;
}

__device__ __forceinline__ void store8(const Lanes8& m, __half* p) {
  uint4 packed;
  __half2* h = reinterpret_cast<__half2*>(&packed);
#pragma unroll
  for (int i = 0; i < kVec / 2; ++i) h[i] = __floats2half2_rn(m.v[2 * i], m.v[2 * i + 1]);
  *reinterpret_cast<uint4*>(p) = packed;
}

// One thread per kLanes consecutive channels of one output pixel (8 or 1).
template <int kLanes>
__global__ void __launch_bounds__(kThreads) maxpool_kernel(const MaxpoolParams p) {
  const PoolGeometry& g = p.g;
  PixelGroup at;
  if (!pixel_group(kThreads, p.batch, g.out_h, g.out_w, g.c / kLanes, &at)) return;
  const int c0 = at.group * kLanes;

  const __half* image = p.x + static_cast<size_t>(at.n) * g.in_h * g.in_w * g.c + c0;
  const auto tap = [&](int iy, int ix) { return image + (static_cast<size_t>(iy) * g.in_w + ix) * g.c; };
  const PoolWindow w = pool_window(g, at.oy, at.ox);
  __half* out = p.y + static_cast<size_t>(at.index) * kLanes;  // NHWC: pixel-major, channel groups inside
  if constexpr (kLanes == kVec) {
    store8(pool_reduce(w, [&](int iy, int ix) { return load8(tap(iy, ix)); }), out);
  } else {
    *out = __float2half_rn(pool_reduce(w, [&](int iy, int ix) { return __half2float(*tap(iy, ix)); }));
  }
}

}  // namespace

cudaError_t launch_maxpool(const MaxpoolParams& p, cudaStream_t stream) {
  const bool vector = p.g.c % kVec == 0;
  const long long total = static_cast<long long>(p.batch) * p.g.out_h * p.g.out_w * (vector ? p.g.c / kVec : p.g.c);
  if (total <= 0) return cudaSuccess;
  const unsigned blocks = static_cast<unsigned>((total + kThreads - 1) / kThreads);
  if (vector) {
    maxpool_kernel<kVec><<<blocks, kThreads, 0, stream>>>(p);
  } else {
    maxpool_kernel<1><<<blocks, kThreads, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace mfn_cuda
