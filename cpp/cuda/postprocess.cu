#include "cuda/postprocess.cuh"

#include "cuda/common.cuh"

namespace mfn_cuda {
namespace {

constexpr int kThreads = 128;

__device__ __forceinline__ float row_value(const PostprocessParams& p, int row, int j) {
  if (!p.flip) return __half2float(p.embeddings[static_cast<size_t>(row) * p.size + j]);
  const __half* pair = p.embeddings + static_cast<size_t>(2 * row) * p.size;
  return __half2float(pair[j]) + __half2float(pair[p.size + j]);
}

__global__ void __launch_bounds__(kThreads) postprocess_kernel(const PostprocessParams p) {
  __shared__ float warp_sums[kThreads / 32];
  __shared__ float inv_norm;
  const int row = blockIdx.x;
  float sum = 0.f;
  for (int j = threadIdx.x; j < p.size; j += kThreads) {
    const float v = row_value(p, row, j);
    sum = fmaf(v, v, sum);
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
  if (threadIdx.x % 32 == 0) warp_sums[threadIdx.x / 32] = sum;
  __syncthreads();
  if (threadIdx.x == 0) {
    float total = 0.f;
    for (int w = 0; w < kThreads / 32; ++w) total += warp_sums[w];
    // A zero vector stays zero instead of becoming NaN.
    inv_norm = total > 0.f ? rsqrtf(total) : 0.f;
  }
  __syncthreads();
  for (int j = threadIdx.x; j < p.size; j += kThreads) {
    p.out[static_cast<size_t>(row) * p.size + j] = row_value(p, row, j) * inv_norm;
  }
}

}  // namespace

cudaError_t launch_postprocess(const PostprocessParams& p, cudaStream_t stream) {
  if (p.count <= 0) return cudaSuccess;
  postprocess_kernel<<<p.count, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mfn_cuda
