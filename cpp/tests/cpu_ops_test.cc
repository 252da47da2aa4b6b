// CPU kernels against naive loops: every layer kind (1x1 GEMM, whole-input
// GEMM, depthwise 3x3/7x7/strided/dilated, im2col with groups) on random
// data with odd sizes, every epilogue (PReLU or linear, no residual,
// residual before or after the activation), split into 1..3 slices, with
// every ISA this CPU supports; the vector ISAs also against the portable
// kernels.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "cpu/conv_layer.h"
#include "cpu/isa.h"
#include "tests/check.h"
#include "tests/conv_reference.h"

namespace {

using mfn::cpu::ConvKind;
using mfn::cpu::ConvLayer;
using mfn::cpu::Isa;
using mfn::cpu::Kernels;

std::vector<float> random_vector(std::mt19937& rng, size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::vector<float> nchw_to_nhwc(const std::vector<float>& x, int c, int h, int w) {
  std::vector<float> y(x.size());
  for (int ch = 0; ch < c; ++ch)
    for (int i = 0; i < h * w; ++i) y[static_cast<size_t>(i) * c + ch] = x[static_cast<size_t>(ch) * h * w + i];
  return y;
}

struct Case {
  std::string name;
  mfn_conv_layer geo;
  ConvKind kind;
};

// Runs `c` with `kernels` (in `parts` slices) on NHWC data; returns NHWC.
std::vector<float> run_cpu(const mfn_conv_layer& l, const Kernels& kernels, const std::vector<float>& in_nhwc,
                           const std::vector<float>* res_nhwc, int parts, ConvKind* kind) {
  ConvLayer layer;
  REQUIRE(mfn::cpu::make_conv_layer(l, kernels, &layer));
  *kind = layer.kind;
  std::vector<float> scratch(std::max<size_t>(mfn::cpu::conv_scratch_floats(layer), 1));
  // Poisoned output: every element must be written.
  std::vector<float> out(static_cast<size_t>(l.out_c) * l.out_h * l.out_w, std::nanf(""));
  for (int part = 0; part < parts; ++part)
    mfn::cpu::run_conv_layer(layer, kernels, in_nhwc.data(), res_nhwc ? res_nhwc->data() : nullptr, out.data(),
                             scratch.data(), part, parts);
  return out;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = std::fabs(static_cast<double>(a[i]) - b[i]) / (1.0 + std::fabs(static_cast<double>(b[i])));
    if (!(d <= worst)) worst = std::isnan(d) ? INFINITY : d;
  }
  return worst;
}

void run_case(const Case& c, std::mt19937& rng, const std::vector<const Kernels*>& isas) {
  mfn_conv_layer l = c.geo;
  const int cin_g = l.in_c / l.group;
  const float scale = std::sqrt(3.0f / (cin_g * l.kernel_h * l.kernel_w));
  const std::vector<float> w = random_vector(rng, static_cast<size_t>(l.out_c) * cin_g * l.kernel_h * l.kernel_w, -scale, scale);
  const std::vector<float> bias = random_vector(rng, l.out_c, -0.5f, 0.5f);
  const std::vector<float> slope = random_vector(rng, l.out_c, -0.3f, 0.6f);
  const std::vector<float> in = random_vector(rng, static_cast<size_t>(l.in_c) * l.in_h * l.in_w, -2.0f, 2.0f);
  const std::vector<float> res = random_vector(rng, static_cast<size_t>(l.out_c) * l.out_h * l.out_w, -1.0f, 1.0f);
  const std::vector<float> in_nhwc = nchw_to_nhwc(in, l.in_c, l.in_h, l.in_w);
  const std::vector<float> res_nhwc = nchw_to_nhwc(res, l.out_c, l.out_h, l.out_w);
  l.weight = w.data();
  l.bias = bias.data();

  // epilogue: 0 linear, 1 PReLU, 2 PReLU + residual before, 3 PReLU + residual after, 4 linear + residual
  for (int epi = 0; epi < 5; ++epi) {
    l.slope = (epi >= 1 && epi <= 3) ? slope.data() : nullptr;
    const bool with_res = epi >= 2;
    l.residual_after_act = epi == 3 ? 1 : 0;
    std::vector<float> expect(res.size());
    mfn_test::naive_conv(l, in.data(), with_res ? res.data() : nullptr, expect.data());
    const std::vector<float> expect_nhwc = nchw_to_nhwc(expect, l.out_c, l.out_h, l.out_w);

    std::vector<float> generic;
    for (const Kernels* k : isas) {
      for (int parts = 1; parts <= 3; ++parts) {
        ConvKind kind;
        const std::vector<float> got = run_cpu(l, *k, in_nhwc, with_res ? &res_nhwc : nullptr, parts, &kind);
        CHECK_MSG(kind == c.kind, "%s: classified as %d", c.name.c_str(), static_cast<int>(kind));
        const double d = max_rel_diff(got, expect_nhwc);
        CHECK_MSG(d < 2e-5, "%s [%s, epilogue %d, %d parts]: max rel diff %g vs naive", c.name.c_str(), k->name, epi,
                  parts, d);
        if (parts == 1 && k == isas.front()) generic = got;
        if (parts == 1 && k != isas.front()) {
          const double dg = max_rel_diff(got, generic);
          CHECK_MSG(dg < 1e-5, "%s [%s, epilogue %d]: max rel diff %g vs generic kernels", c.name.c_str(), k->name,
                    epi, dg);
        }
      }
    }
  }
}

mfn_conv_layer geo(int in_c, int in_h, int in_w, int out_c, int k, int stride, int pad, int group) {
  return mfn_test::conv_geometry(in_c, in_h, in_w, out_c, k, stride, pad, group);
}

}  // namespace

int main() {
  std::vector<const Kernels*> isas;
  for (Isa isa : {Isa::generic, Isa::avx2, Isa::avx512}) {
    if (const Kernels* k = mfn::cpu::kernels_for(isa)) {
      isas.push_back(k);
      std::printf("testing %s kernels (nr %d, mr %d)\n", k->name, k->nr, k->mr);
    }
  }
  REQUIRE(!isas.empty() && std::string(isas.front()->name) == "generic");

  std::vector<Case> cases = {
      {"1x1 64->128 9x7", geo(64, 9, 7, 128, 1, 1, 0, 1), ConvKind::gemm},
      {"1x1 5->37 3x11", geo(5, 3, 11, 37, 1, 1, 0, 1), ConvKind::gemm},
      {"1x1 128->64 28x28", geo(128, 28, 28, 64, 1, 1, 0, 1), ConvKind::gemm},
      {"1x1 1->1 1x1", geo(1, 1, 1, 1, 1, 1, 0, 1), ConvKind::gemm},
      {"1x1 24->24 16x16 (partial panel)", geo(24, 16, 16, 24, 1, 1, 0, 1), ConvKind::gemm},
      {"1x1 512->512 1x1", geo(512, 1, 1, 512, 1, 1, 0, 1), ConvKind::gemm},
      {"whole-input 16x7x7->10", geo(16, 7, 7, 10, 7, 1, 0, 1), ConvKind::gemm},
      {"stem 3->64 3x3/s2 15x17", geo(3, 15, 17, 64, 3, 2, 1, 1), ConvKind::im2col},
      {"3x3 7->9 8x8", geo(7, 8, 8, 9, 3, 1, 1, 1), ConvKind::im2col},
      {"3x3 group 2 8->6 /s2", geo(8, 9, 10, 6, 3, 2, 1, 2), ConvKind::im2col},
      {"3x3 multiplier 2 4->8", geo(4, 6, 5, 8, 3, 1, 1, 4), ConvKind::im2col},
      {"1x1/s2 24->40", geo(24, 9, 9, 40, 1, 2, 0, 1), ConvKind::im2col},
      {"5x5 20->33 pad 2", geo(20, 13, 11, 33, 5, 1, 2, 1), ConvKind::im2col},
      {"dw3x3 64 56x56", geo(64, 56, 56, 64, 3, 1, 1, 64), ConvKind::depthwise},
      {"dw3x3/s2 128 14x14", geo(128, 14, 14, 128, 3, 2, 1, 128), ConvKind::depthwise},
      {"dw3x3 37 5x9", geo(37, 5, 9, 37, 3, 1, 1, 37), ConvKind::depthwise},
      {"dw3x3 24 (8-wide on AVX-512) 9x11", geo(24, 9, 11, 24, 3, 1, 1, 24), ConvKind::depthwise},
      {"dw5x5/s2 24 13x12", geo(24, 13, 12, 24, 5, 2, 2, 24), ConvKind::depthwise},
      {"dw3x3/s2 8 7x7", geo(8, 7, 7, 8, 3, 2, 1, 8), ConvKind::depthwise},
      {"dw7x7 512 GDConv", geo(512, 7, 7, 512, 7, 1, 0, 512), ConvKind::depthwise},
      {"dw5x5 19 pad 2", geo(19, 8, 6, 19, 5, 1, 2, 19), ConvKind::depthwise},
  };
  // Asymmetric padding and dilation.
  {
    mfn_conv_layer l = geo(48, 10, 9, 48, 3, 1, 0, 48);
    l.pad_top = 2;
    l.pad_left = 1;
    l.pad_bottom = 0;
    l.pad_right = 2;
    l.dilation_h = 2;
    l.dilation_w = 1;
    l.out_h = (10 + 2 + 0 - 2 * 2 - 1) / 1 + 1;
    l.out_w = (9 + 1 + 2 - 2 - 1) / 1 + 1;
    cases.push_back({"dw3x3 dilated, asymmetric pads", l, ConvKind::depthwise});
    mfn_conv_layer g = l;
    g.group = 1;
    g.out_c = 21;
    cases.push_back({"3x3 dilated, asymmetric pads", g, ConvKind::im2col});
    l.dilation_h = 1;
    l.out_h = 10 + 2 + 0 - 3 + 1;
    cases.push_back({"dw3x3 asymmetric pads", l, ConvKind::depthwise});
    mfn_conv_layer s = geo(40, 9, 23, 40, 3, 1, 0, 40);
    s.stride_w = 2;
    s.pad_left = 1;
    s.out_w = (23 + 1 - 3) / 2 + 1;
    cases.push_back({"dw3x3 stride 1x2, left pad only", s, ConvKind::depthwise});
    cases.push_back({"dw3x3/s2 no pad", geo(16, 9, 10, 16, 3, 2, 0, 16), ConvKind::depthwise});
  }

  std::mt19937 rng(42);
  for (const Case& c : cases) run_case(c, rng, isas);
  std::printf("%zu cases, %d failures\n", cases.size(), mfn_test::failures());
  return mfn_test::test_exit_code();
}
