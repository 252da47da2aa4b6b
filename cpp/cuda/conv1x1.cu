#include "cuda/conv1x1.cuh"

#include <mma.h>

#include "cuda/common.cuh"

namespace mfn_cuda {
namespace {

// CTA tile 128 (pixels) x 64 (channels), K in steps of 32; 8 warps as 4 x 2,
// each owning a 32 x 32 block of 2 x 2 WMMA 16x16x16 accumulators. Shared
// rows are padded by 8 halves (16 bytes) to spread them over the banks.
constexpr int kBM = 128;
constexpr int kBN = 64;
constexpr int kBK = 32;
constexpr int kThreads = 256;
constexpr int kLds = kBK + 8;   // halves per shared A/B row
constexpr int kLdc = kBN + 4;   // floats per shared C row (epilogue staging)

constexpr int kTileBytes = (2 * kBM * kLds + 2 * kBN * kLds) * 2;
constexpr int kStageBytes = kBM * kLdc * 4;
constexpr int kSmemBytes = kTileBytes > kStageBytes ? kTileBytes : kStageBytes;

struct Fetch {
  uint4 a[2];
  uint4 b;
};

// The two A-tile rows a thread loads (the same rows at every K step), and
// for the fused variant the output pixel each row is.
struct RowInfo {
  bool valid[2];
  int image[2], oy[2], ox[2];
};

template <bool kFused>
__device__ __forceinline__ RowInfo row_info(const Conv1x1Params& p, int m0) {
  RowInfo r;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int m = m0 + (threadIdx.x + i * kThreads) / (kBK / kVec);
    r.valid[i] = m < p.m;
    if (kFused) {
      r.ox[i] = m % p.dw.out_w;
      r.oy[i] = (m / p.dw.out_w) % p.dw.out_h;
      r.image[i] = m / (p.dw.out_w * p.dw.out_h);
    }
  }
  return r;
}

// Each thread fetches two 16-byte chunks of the A tile and one of the B
// tile; chunks past m, n or k are zero so they add nothing. Fused: the A
// chunk is computed from the depthwise layer's input instead of loaded.
template <bool kFused>
__device__ __forceinline__ void fetch_tile(const Conv1x1Params& p, const RowInfo& rows, int m0, int n0, int k0,
                                           Fetch* f) {
  const int t = threadIdx.x;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int chunk = t + i * kThreads;
    const int row = chunk / (kBK / kVec);
    const int k = k0 + (chunk % (kBK / kVec)) * kVec;
    const int m = m0 + row;
    if (!rows.valid[i] || k >= p.k) {
      f->a[i] = make_uint4(0, 0, 0, 0);
    } else if (kFused) {
      float acc[kVec] = {0, 0, 0, 0, 0, 0, 0, 0};
      depthwise8(p.dw_x, p.dw_w, p.dw, rows.image[i], rows.oy[i], rows.ox[i], k, acc);
      f->a[i] = finish8(acc, p.dw_bias + k, p.dw_slope ? p.dw_slope + k : nullptr, nullptr, false);
    } else {
      f->a[i] = *reinterpret_cast<const uint4*>(p.a + static_cast<size_t>(m) * p.k + k);
    }
  }
  const int row = t / (kBK / kVec);
  const int k = k0 + (t % (kBK / kVec)) * kVec;
  const int n = n0 + row;
  f->b = (n < p.n && k < p.k) ? *reinterpret_cast<const uint4*>(p.b + static_cast<size_t>(n) * p.k + k)
                              : make_uint4(0, 0, 0, 0);
}

__device__ __forceinline__ void store_tile(const Fetch& f, __half* as, __half* bs) {
  const int t = threadIdx.x;
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    const int chunk = t + i * kThreads;
    *reinterpret_cast<uint4*>(as + (chunk / (kBK / kVec)) * kLds + (chunk % (kBK / kVec)) * kVec) = f.a[i];
  }
  *reinterpret_cast<uint4*>(bs + (t / (kBK / kVec)) * kLds + (t % (kBK / kVec)) * kVec) = f.b;
}

template <bool kFused>
__global__ void __launch_bounds__(kThreads) conv1x1_kernel(const Conv1x1Params p) {
  using namespace nvcuda;
  __shared__ __align__(128) unsigned char smem[kSmemBytes];
  __half* as = reinterpret_cast<__half*>(smem);        // [2][kBM][kLds]
  __half* bs = as + 2 * kBM * kLds;                    // [2][kBN][kLds]
  float* cs = reinterpret_cast<float*>(smem);          // [kBM][kLdc], after the main loop

  const int m0 = blockIdx.x * kBM;
  const int n0 = blockIdx.y * kBN;
  const int warp = threadIdx.x / 32;
  const int wm = warp / 2;  // 0..3: rows wm*32 .. +32
  const int wn = warp % 2;  // 0..1: cols wn*32 .. +32

  wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.f);

  const int k_tiles = ceil_div(p.k, kBK);
  const RowInfo rows = row_info<kFused>(p, m0);
  Fetch f;
  fetch_tile<kFused>(p, rows, m0, n0, 0, &f);
  store_tile(f, as, bs);
  __syncthreads();
  // One barrier per K step: step kt reads buffer kt%2 while the next tile is
  // written to the other buffer, which every warp finished reading at the
  // barrier of step kt-1.
  for (int kt = 0; kt < k_tiles; ++kt) {
    const int cur = kt & 1;
    if (kt + 1 < k_tiles) fetch_tile<kFused>(p, rows, m0, n0, (kt + 1) * kBK, &f);
    const __half* a_tile = as + cur * kBM * kLds;
    const __half* b_tile = bs + cur * kBN * kLds;
#pragma unroll
    for (int kk = 0; kk < kBK; kk += 16) {
      wmma::fragment<wmma::matrix_a, 16, 16, 16, __half, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 16, __half, wmma::col_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) wmma::load_matrix_sync(fa[i], a_tile + (wm * 32 + i * 16) * kLds + kk, kLds);
      // B is stored [n][k]: as a k x n matrix that is column-major with ld kLds.
#pragma unroll
      for (int j = 0; j < 2; ++j) wmma::load_matrix_sync(fb[j], b_tile + (wn * 32 + j * 16) * kLds + kk, kLds);
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    if (kt + 1 < k_tiles) store_tile(f, as + (cur ^ 1) * kBM * kLds, bs + (cur ^ 1) * kBN * kLds);
    __syncthreads();
  }

  // Epilogue: stage the FP32 tile in shared memory (it reuses the A/B
  // buffers, free after the last barrier), then each thread finishes rows of
  // 8 channels with 16-byte loads and stores.
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(cs + (wm * 32 + i * 16) * kLdc + wn * 32 + j * 16, acc[i][j], kLdc, wmma::mem_row_major);
  __syncthreads();
  constexpr int kChunksPerRow = kBN / kVec;
  for (int chunk = threadIdx.x; chunk < kBM * kChunksPerRow; chunk += kThreads) {
    const int row = chunk / kChunksPerRow;
    const int col = (chunk % kChunksPerRow) * kVec;
    const int m = m0 + row;
    const int n = n0 + col;
    if (m >= p.m || n >= p.n) continue;
    float v[kVec];
    const float4 lo = *reinterpret_cast<const float4*>(cs + row * kLdc + col);
    const float4 hi = *reinterpret_cast<const float4*>(cs + row * kLdc + col + 4);
    v[0] = lo.x, v[1] = lo.y, v[2] = lo.z, v[3] = lo.w, v[4] = hi.x, v[5] = hi.y, v[6] = hi.z, v[7] = hi.w;
    const size_t offset = static_cast<size_t>(m) * p.n + n;
    epilogue8(v, p.bias + n, p.slope ? p.slope + n : nullptr, p.residual ? p.residual + offset : nullptr,
              p.residual_after_act, p.c + offset);
  }
}

}  // namespace

cudaError_t launch_conv1x1(const Conv1x1Params& p, cudaStream_t stream) {
  if (p.m <= 0) return cudaSuccess;
  const dim3 grid(ceil_div(p.m, kBM), ceil_div(p.n, kBN));
  if (p.dw_x) {
    conv1x1_kernel<true><<<grid, kThreads, 0, stream>>>(p);
  } else {
    conv1x1_kernel<false><<<grid, kThreads, 0, stream>>>(p);
  }
  return cudaGetLastError();
}

}  // namespace mfn_cuda
