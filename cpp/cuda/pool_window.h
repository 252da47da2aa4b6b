// The arithmetic of the MaxPool kernel (maxpool.cu): which input taps an
// output pixel's window holds, the running-max step and the loop over a
// window. Host- and device-callable and CUDA-free outside nvcc, so that the
// host-only planner test checks it against the CPU pool layer; on the
// device it runs in every thread of the kernel.
#pragma once

#ifdef __CUDACC__
#define MFN_HOST_DEVICE __host__ __device__
#else
#define MFN_HOST_DEVICE
#endif

namespace mfn_cuda {

// Per-image geometry of an MFN_OP_MAXPOOL layer on an NHWC tensor (no
// dilation; the bottom and right padding follow from out_h and out_w).
struct PoolGeometry {
  int c, in_h, in_w, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left;
};

// The taps of one output pixel's window that lie inside the input: rows
// [y_begin, y_end), columns [x_begin, x_end). Padding never wins the max, so
// it is simply left out; never empty for a layer the planner accepted
// (every pad below the kernel size).
struct PoolWindow {
  int y_begin, y_end, x_begin, x_end;
};

MFN_HOST_DEVICE inline PoolWindow pool_window(const PoolGeometry& g, int oy, int ox) {
  const int y0 = oy * g.stride_h - g.pad_top;
  const int x0 = ox * g.stride_w - g.pad_left;
  PoolWindow w;
  w.y_begin = y0 > 0 ? y0 : 0;
  w.y_end = y0 + g.kernel_h < g.in_h ? y0 + g.kernel_h : g.in_h;
  w.x_begin = x0 > 0 ? x0 : 0;
  w.x_end = x0 + g.kernel_w < g.in_w ? x0 + g.kernel_w : g.in_w;
  return w;
}

// One step of the running max, as the CPU pool kernel takes it in its
// vector lanes and its scalar tail alike (cpu/pool_kernel.h: m > x ? m : x).
// With a NaN tap m becomes NaN and the next tap replaces it, so a window's
// max is NaN exactly when its last tap (row-major) is NaN.
MFN_HOST_DEVICE inline float pool_max(float m, float x) { return m > x ? m : x; }

// Eight channels of one tap or one running max (the kernel's 16-byte path).
struct Lanes8 {
  float v[8];
};

MFN_HOST_DEVICE inline Lanes8 pool_max(const Lanes8& m, const Lanes8& x) {
  Lanes8 r;
  for (int i = 0; i < 8; ++i) r.v[i] = pool_max(m.v[i], x.v[i]);
  return r;
}

// The max over window `w`: `at(iy, ix)` reads one tap (a float or a
// Lanes8). The first tap is the starting value, as in the CPU kernel (the
// loop's first step, pool_max(m, m), leaves it as it is, NaN included).
#ifdef __CUDACC__
#pragma nv_exec_check_disable
#endif
template <typename At>
MFN_HOST_DEVICE inline auto pool_reduce(const PoolWindow& w, const At& at) -> decltype(at(0, 0)) {
  auto m = at(w.y_begin, w.x_begin);
  for (int iy = w.y_begin; iy < w.y_end; ++iy) {
    for (int ix = w.x_begin; ix < w.x_end; ++ix) m = pool_max(m, at(iy, ix));
  }
  return m;
}

}  // namespace mfn_cuda
