// Per-image geometry of a dense or grouped convolution on NHWC tensors, as
// the stem and generic kernels read it (DwGeometry in dwconv.cuh is its
// depthwise counterpart, with one channel count), and the walk over the taps
// of one output pixel that both kernels make. Filled from a plan Step on the
// host, passed by value in the kernel parameters.
#pragma once

namespace mfn_cuda {

struct ConvGeometry {
  int in_c, in_h, in_w, out_c, out_h, out_w;
  int kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
};

#ifdef __CUDACC__
// Calls tap(iy, ix, ky, kx) for every kernel tap of output pixel (oy, ox)
// that falls inside the input; the others read zero padding.
template <typename Tap>
__device__ __forceinline__ void for_each_tap(const ConvGeometry& g, int oy, int ox, Tap tap) {
  for (int ky = 0; ky < g.kernel_h; ++ky) {
    const int iy = oy * g.stride_h - g.pad_top + ky * g.dilation_h;
    if (iy < 0 || iy >= g.in_h) continue;
    for (int kx = 0; kx < g.kernel_w; ++kx) {
      const int ix = ox * g.stride_w - g.pad_left + kx * g.dilation_w;
      if (ix < 0 || ix >= g.in_w) continue;
      tap(iy, ix, ky, kx);
    }
  }
}
#endif  // __CUDACC__

}  // namespace mfn_cuda
