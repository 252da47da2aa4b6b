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
  a.in = in;
  a.in_h = l.in_h;
  a.in_w = l.in_w;
  a.c = l.in_c;
  a.out = out;
  a.out_h = l.out_h;
  a.out_w = l.out_w;
  a.kh = l.kernel_h;
  a.kw = l.kernel_w;
  a.sh = l.stride_h;
  a.sw = l.stride_w;
  a.pad_top = l.pad_top;
  a.pad_left = l.pad_left;
  kernels.maxpool(a, lo, hi);
}

}  // namespace cpu
}  // namespace mfn
