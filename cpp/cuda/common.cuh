// Shared by every CUDA source of the plugin: error checking and the small
// device helpers the kernels have in common. Also included by host .cc files
// (compiled by the host compiler): device code is guarded by __CUDACC__.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <cstring>
#include <string>

#include "cuda/error.h"

namespace mfn_cuda {

// "cudaMalloc(&p, n) failed: out of memory (cudaErrorMemoryAllocation) at
// backend_cuda.cc:120". Out-of-memory maps to MFN_E_OUT_OF_MEMORY, every other
// CUDA error to MFN_E_CUDA_ERROR.
inline Error cuda_error(cudaError_t err, const char* expr, const char* file, int line) {
  const char* base = std::strrchr(file, '/');
  base = base ? base + 1 : file;
  std::string message = std::string(expr) + " failed: " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) +
                        ") at " + base + ":" + std::to_string(line);
  Error e = make_error(err == cudaErrorMemoryAllocation ? MFN_E_OUT_OF_MEMORY : MFN_E_CUDA_ERROR, std::move(message));
  e.cuda_status = static_cast<int32_t>(err);
  return e;
}

// Errors after which the CUDA context of this process is unusable: every
// later call fails the same way until the process exits.
inline bool is_sticky(cudaError_t err) {
  switch (err) {
    case cudaErrorIllegalAddress:
    case cudaErrorLaunchFailure:
    case cudaErrorHardwareStackError:
    case cudaErrorIllegalInstruction:
    case cudaErrorMisalignedAddress:
    case cudaErrorInvalidAddressSpace:
    case cudaErrorInvalidPc:
    case cudaErrorAssert:
    case cudaErrorLaunchTimeout:
    case cudaErrorECCUncorrectable:
    case cudaErrorContextIsDestroyed:
      return true;
    default:
      return false;
  }
}

}  // namespace mfn_cuda

// Evaluates a CUDA runtime call; on failure returns an Error naming the
// expression, file and line from the enclosing function.
#define MFN_CUDA_CHECK(expr)                                                    \
  do {                                                                          \
    const cudaError_t mfn_cuda_err_ = (expr);                                   \
    if (mfn_cuda_err_ != cudaSuccess)                                           \
      return ::mfn_cuda::cuda_error(mfn_cuda_err_, #expr, __FILE__, __LINE__);  \
  } while (0)

#ifdef __CUDACC__
namespace mfn_cuda {

constexpr int kVec = 8;  // halves per 16-byte vector access

// The layer epilogue on 8 consecutive channels: y = acc + bias, then PReLU
// and the residual add in the order the layer asks for. `slope` may be null
// (linear layer), `residual` may be null (no skip connection). Returns the 8
// FP16 results packed for one 16-byte store.
__device__ __forceinline__ uint4 finish8(const float acc[kVec], const float* __restrict__ bias,
                                         const float* __restrict__ slope, const __half* __restrict__ residual,
                                         bool residual_after_act) {
  const float4 b0 = reinterpret_cast<const float4*>(bias)[0];
  const float4 b1 = reinterpret_cast<const float4*>(bias)[1];
  float v[kVec] = {acc[0] + b0.x, acc[1] + b0.y, acc[2] + b0.z, acc[3] + b0.w,
                   acc[4] + b1.x, acc[5] + b1.y, acc[6] + b1.z, acc[7] + b1.w};
  float r[kVec] = {0, 0, 0, 0, 0, 0, 0, 0};
  if (residual) {
    const uint4 raw = *reinterpret_cast<const uint4*>(residual);
    const __half2* h = reinterpret_cast<const __half2*>(&raw);
#pragma unroll
    for (int i = 0; i < kVec / 2; ++i) {
      const float2 f = __half22float2(h[i]);
      r[2 * i] = f.x;
      r[2 * i + 1] = f.y;
    }
  }
  if (!residual_after_act) {
#pragma unroll
    for (int i = 0; i < kVec; ++i) v[i] += r[i];
  }
  if (slope) {
    const float4 s0 = reinterpret_cast<const float4*>(slope)[0];
    const float4 s1 = reinterpret_cast<const float4*>(slope)[1];
    const float s[kVec] = {s0.x, s0.y, s0.z, s0.w, s1.x, s1.y, s1.z, s1.w};
#pragma unroll
    for (int i = 0; i < kVec; ++i) v[i] = v[i] >= 0.f ? v[i] : v[i] * s[i];
  }
  if (residual_after_act) {
#pragma unroll
    for (int i = 0; i < kVec; ++i) v[i] += r[i];
  }
  uint4 packed;
  __half2* p = reinterpret_cast<__half2*>(&packed);
#pragma unroll
  for (int i = 0; i < kVec / 2; ++i) p[i] = __floats2half2_rn(v[2 * i], v[2 * i + 1]);
  return packed;
}

// finish8 and one 16-byte store to `out`.
__device__ __forceinline__ void epilogue8(const float acc[kVec], const float* __restrict__ bias,
                                          const float* __restrict__ slope, const __half* __restrict__ residual,
                                          bool residual_after_act, __half* __restrict__ out) {
  *reinterpret_cast<uint4*>(out) = finish8(acc, bias, slope, residual, residual_after_act);
}

// The same epilogue for one channel (generic and fallback kernels).
__device__ __forceinline__ float epilogue1(float acc, float bias, const float* __restrict__ slope,
                                           const __half* __restrict__ residual, bool residual_after_act, int channel) {
  float v = acc + bias;
  const float r = residual ? __half2float(*residual) : 0.f;
  if (!residual_after_act) v += r;
  if (slope && v < 0.f) v *= slope[channel];
  if (residual_after_act) v += r;
  return v;
}

__host__ __device__ constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

// The work item of this thread in a direct NHWC kernel whose blocks of
// `threads` cover batch x out_h x out_w x groups items: image n, output
// pixel (oy, ox), channel group `group`; index is the item's number, also
// the output's offset in groups. Consecutive threads take consecutive
// channel groups of the same pixel, so a warp reads whole pixels. False for
// a thread past the last item.
struct PixelGroup {
  long long index;
  int n, oy, ox, group;
};
__device__ __forceinline__ bool pixel_group(int threads, int batch, int out_h, int out_w, int groups, PixelGroup* at) {
  const long long total = static_cast<long long>(batch) * out_h * out_w * groups;
  at->index = static_cast<long long>(blockIdx.x) * threads + threadIdx.x;
  if (at->index >= total) return false;
  at->group = static_cast<int>(at->index % groups);
  long long pixel = at->index / groups;
  at->ox = static_cast<int>(pixel % out_w);
  pixel /= out_w;
  at->oy = static_cast<int>(pixel % out_h);
  at->n = static_cast<int>(pixel / out_h);
  return true;
}

}  // namespace mfn_cuda
#endif  // __CUDACC__
