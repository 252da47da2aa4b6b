#include "cpu/pool_layer.h"

namespace mfn {
namespace cpu {

void make_pool_layer(const mfn_conv_layer& src, ConvLayer* out) {
  out->geo = src;
  out->geo.weight = out->geo.bias = out->geo.slope = nullptr;
}

void run_pool_layer(const ConvLayer& layer, const Kernels& kernels, const float* in, float* out, int part, int parts) {
  const mfn_conv_layer& l = layer.geo;
  int lo, hi;
  split(l.out_h, 1, part, parts, &lo, &hi);
  if (lo >= hi) return;
  PoolArgs a;
  static_cast<WindowArgs&>(a) = window_args(l, in, out);
  kernels.maxpool(a, lo, hi);
}

}  // namespace cpu
}  // namespace mfn
