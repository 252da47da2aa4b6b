#include "cpu/pool_layer.h"

#include <algorithm>

namespace mfn {
namespace cpu {

void make_pool_layer(const mfn_conv_layer& src, ConvLayer* out) {
  out->geo = src;
  out->geo.weight = out->geo.bias = out->geo.slope = nullptr;
  out->m = src.out_h * src.out_w;
}

void run_pool_layer(const ConvLayer& layer, const Kernels& kernels, const float* in, float* out, int part, int parts) {
  const mfn_conv_layer& l = layer.geo;
  const int per = (l.out_h + parts - 1) / parts;
  const int lo = std::min(l.out_h, part * per), hi = std::min(l.out_h, (part + 1) * per);
  if (lo >= hi) return;
  PoolArgs a;
  static_cast<WindowArgs&>(a) = window_args(l, in, out);
  kernels.maxpool(a, lo, hi);
}

}  // namespace cpu
}  // namespace mfn
