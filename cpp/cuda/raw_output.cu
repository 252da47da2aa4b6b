#include "cuda/raw_output.cuh"

#include "cuda/common.cuh"

namespace mfn_cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kMaxBlocksY = 65535;  // grid.y limit; larger tensors loop

__global__ void __launch_bounds__(kThreads) raw_output_kernel(const RawOutputParams p) {
  const int image = blockIdx.x;
  const __half* x = p.x + static_cast<size_t>(image) * p.elements;
  float* out = p.out + static_cast<size_t>(image) * p.stride + p.offset;
  for (size_t j = static_cast<size_t>(blockIdx.y) * kThreads + threadIdx.x; j < p.elements;
       j += static_cast<size_t>(gridDim.y) * kThreads) {
    out[j] = __half2float(x[j]);
  }
}

}  // namespace

cudaError_t launch_raw_output(const RawOutputParams& p, cudaStream_t stream) {
  if (p.count <= 0 || p.elements == 0) return cudaSuccess;
  // Images on x (up to 2^31 - 1), blocks of values on y.
  const size_t blocks = (p.elements + kThreads - 1) / kThreads;
  const dim3 grid(p.count, static_cast<unsigned>(blocks < kMaxBlocksY ? blocks : kMaxBlocksY));
  raw_output_kernel<<<grid, kThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace mfn_cuda
