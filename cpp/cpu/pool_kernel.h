// Max pooling on NHWC activations, written once over a vector type V and
// instantiated per ISA like dwconv_kernel.h. Vectorised over channels; the
// channels past the last full vector take a scalar tail. Called by one pool
// thread on a band of output rows.
//
// NaN: every step is max(acc, tap) = acc > tap ? acc : tap, the vector
// instructions' rule (maxps returns its second operand when either is NaN),
// in the scalar tail too, so that a window is NaN exactly when its last tap
// is, whatever the ISA and whichever lane a channel falls in (the CUDA
// kernel follows the same rule).
#pragma once

#include <algorithm>
#include <cstddef>

#include "cpu/kernels.h"

namespace mfn {
namespace cpu {
namespace {

template <class V>
void maxpool(const PoolArgs& a, int oy_begin, int oy_end) {
  constexpr int W = V::width;
  const size_t c = static_cast<size_t>(a.c);
  const size_t vec_end = c / W * W;
  for (int oy = oy_begin; oy < oy_end; ++oy) {
    for (int ox = 0; ox < a.out_w; ++ox) {
      float* out = a.out + (static_cast<size_t>(oy) * a.out_w + ox) * c;
      // The taps inside the image; every window has one, since the plan
      // check keeps each pad below the kernel size.
      const int y0 = oy * a.sh - a.pad_top, x0 = ox * a.sw - a.pad_left;
      bool first = true;
      for (int ky = 0; ky < a.kh; ++ky) {
        const int iy = y0 + ky;
        if (iy < 0 || iy >= a.in_h) continue;
        for (int kx = 0; kx < a.kw; ++kx) {
          const int ix = x0 + kx;
          if (ix < 0 || ix >= a.in_w) continue;
          const float* in = a.in + (static_cast<size_t>(iy) * a.in_w + ix) * c;
          if (first) {
            std::copy(in, in + c, out);
            first = false;
            continue;
          }
          size_t k = 0;
          for (; k < vec_end; k += W) V::store(out + k, V::max(V::load(out + k), V::load(in + k)));
          for (; k < c; ++k) out[k] = out[k] > in[k] ? out[k] : in[k];
        }
      }
    }
  }
}

}  // namespace
}  // namespace cpu
}  // namespace mfn
