// Host-only tests of the CUDA backend's planner and staging logic (no GPU,
// no CUDA runtime): kernel choice, weight packing, buffer liveness, plan
// validation (MaxPool layers and raw outputs included), FP16 rounding, graph
// buckets, chunking, the staged source rectangle and the sharing of staged
// pixels, the MaxPool window arithmetic against the CPU pool layer, and the
// shipped MobileFaceNet and BlazeFace plans.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "core/half.h"
#include "core/model.h"
#include "cpu/isa.h"
#include "cpu/pool_layer.h"
#include "cuda/plan.h"
#include "cuda/pool_window.h"
#include "cuda/staging.h"
#include "tests/check.h"
#include "tests/cuda_test_net.h"

using namespace mfn_cuda;

namespace {

using TestNet = mfn_test::RandomNet;

// A small network with the shapes of MobileFaceNet's pieces: stem, depthwise,
// expand / depthwise / project with a residual, a grouped conv, the GDConv
// and the final dense 1x1. Returns the embedding tensor.
int build_mobile_like(TestNet* net) {
  const int x = net->tensor(3, 16, 16);
  const int stem = net->conv(x, 16, 3, 2, 1, 1, true);            // 0 stem: 16x8x8
  const int dw = net->conv(stem, 16, 3, 1, 1, 16, true);          // 1 dwconv
  const int expand = net->conv(dw, 32, 1, 1, 0, 1, true);         // 2 gemm
  const int dw2 = net->conv(expand, 32, 3, 1, 1, 32, true);       // 3 dwconv
  const int project = net->conv(dw2, 16, 1, 1, 0, 1, false, dw);  // 4 gemm + residual
  const int grouped = net->conv(project, 16, 3, 1, 1, 2, true);   // 5 generic
  const int gd = net->conv(grouped, 16, 8, 1, 0, 16, false);      // 6 dwconv (GDConv): 16x1x1
  const int odd = net->conv(gd, 12, 1, 1, 0, 1, false);           // 7 generic (12 channels)
  return net->conv(odd, 16, 1, 1, 0, 1, false);                   // 8 generic (12 input channels)
}

// Tensors alive at the same time never share a buffer, and every buffer is
// large enough for what it holds. What a run returns (the embedding, or every
// raw output) is alive to the end.
void check_liveness(const NetPlan& out, int num_tensors) {
  std::vector<int> first(num_tensors, -1), last(num_tensors, -1);  // tensor 0 exists before step 0
  for (size_t s = 0; s < out.steps.size(); ++s) {
    const Step& st = out.steps[s];
    first[st.output] = static_cast<int>(s);
    last[main_input(st)] = std::max(last[main_input(st)], static_cast<int>(s));
    if (st.residual >= 0) last[st.residual] = std::max(last[st.residual], static_cast<int>(s));
    CHECK(out.tensors[st.output].buffer >= 0);
    CHECK(out.tensors[st.output].buffer != out.tensors[main_input(st)].buffer);
  }
  for (int t : out.raw() ? out.outputs : std::vector<int>{out.output}) {
    CHECK(out.tensors[t].buffer >= 0);
    last[t] = static_cast<int>(out.steps.size());
  }
  for (int a = 0; a < num_tensors; ++a) {
    if (out.tensors[a].buffer < 0) continue;
    CHECK(out.buffer_elements[out.tensors[a].buffer] >= out.tensors[a].elements);
    for (int b = a + 1; b < num_tensors; ++b) {
      if (out.tensors[b].buffer < 0) continue;
      const int end_a = std::max(last[a], first[a]), end_b = std::max(last[b], first[b]);
      const bool overlap = first[a] <= end_b && first[b] <= end_a;
      if (overlap) CHECK_MSG(out.tensors[a].buffer != out.tensors[b].buffer, "tensors %d and %d share a buffer", a, b);
    }
  }
}

void test_half_rounding() {
  CHECK(mfn::float_to_half(1.f) == 0x3c00);
  CHECK(mfn::float_to_half(-2.f) == 0xc000);
  CHECK(mfn::float_to_half(0.f) == 0x0000);
  CHECK(mfn::float_to_half(-0.f) == 0x8000);
  CHECK(mfn::float_to_half(0.1f) == 0x2e66);
  CHECK(mfn::float_to_half(65504.f) == 0x7bff);
  CHECK(mfn::float_to_half(65520.f) == 0x7c00);            // rounds up to infinity
  CHECK(mfn::float_to_half(1e-8f) == 0x0000);              // below half the smallest subnormal
  CHECK(mfn::float_to_half(6e-8f) == 0x0001);              // smallest subnormal 5.96e-8
  CHECK(mfn::float_to_half(std::ldexp(1.f, -14)) == 0x0400);  // smallest normal
  CHECK(mfn::float_to_half(1.f + std::ldexp(1.f, -11)) == 0x3c00);      // tie -> even
  CHECK(mfn::float_to_half(1.f + 3 * std::ldexp(1.f, -11)) == 0x3c02);  // tie -> even (up)
  CHECK((mfn::float_to_half(NAN) & 0x7c00) == 0x7c00 && (mfn::float_to_half(NAN) & 0x3ff) != 0);
  CHECK(mfn::float_to_half(INFINITY) == 0x7c00);
}

void test_mobile_like_plan() {
  TestNet net;
  const int emb = build_mobile_like(&net);
  const mfn_plan plan = net.plan(emb);
  NetPlan out;
  const Error e = build_plan(plan, 64, &out, /*fuse_depthwise=*/false);
  REQUIRE(e.ok());
  REQUIRE(out.steps.size() == 9);
  const KernelKind want[] = {KernelKind::stem, KernelKind::dwconv, KernelKind::gemm, KernelKind::dwconv, KernelKind::gemm,
                             KernelKind::generic, KernelKind::dwconv, KernelKind::generic, KernelKind::generic};
  for (size_t i = 0; i < out.steps.size(); ++i) {
    CHECK_MSG(out.steps[i].kind == want[i], "step %zu is %s", i, kernel_name(out.steps[i].kind));
  }
  CHECK(out.channel_src[0] == 2 && out.embedding_size == 16 && out.output == emb);

  check_liveness(out, plan.num_tensors);
  CHECK(out.buffer_elements.size() <= 4);
  CHECK(out.buffer_elements.size() < static_cast<size_t>(plan.num_tensors));
  size_t per_pass = 0;
  for (size_t b : out.buffer_elements) per_pass += b;
  CHECK(out.activation_bytes(10) == per_pass * 10 * 2);

  // Packing: GEMM [co][ci], depthwise [y][x][c], stem [y][x][ci][co] FP32.
  const Step& expand = out.steps[2];
  const mfn_conv_layer& le = net.layers[2];
  CHECK(expand.weight_offset % 8 == 0 && expand.bias_offset % 4 == 0 && expand.slope_offset % 4 == 0);
  CHECK(expand.gemm_k == 16);
  CHECK(out.weights_fp16[expand.weight_offset + 5 * 16 + 7] == mfn::float_to_half(le.weight[5 * 16 + 7]));
  CHECK(out.params_fp32[expand.bias_offset + 3] == le.bias[3]);
  CHECK(out.params_fp32[expand.slope_offset + 31] == le.slope[31]);
  const Step& dw = out.steps[3];
  const mfn_conv_layer& ld = net.layers[3];
  // channel 9, tap (y=2, x=1)
  CHECK(out.weights_fp16[dw.weight_offset + (2 * 3 + 1) * 32 + 9] == mfn::float_to_half(ld.weight[9 * 9 + 2 * 3 + 1]));
  const Step& stem = out.steps[0];
  const mfn_conv_layer& ls = net.layers[0];
  // co 11, ci 2, y 1, x 0
  CHECK(out.params_fp32[stem.weight_offset + ((1 * 3 + 0) * 3 + 2) * 16 + 11] == ls.weight[((11 * 3 + 2) * 3 + 1) * 3 + 0]);
  CHECK(!out.steps[4].has_slope && out.steps[4].residual == 2);
}

// Depthwise layers fold into the GEMM after them when it is their only
// reader: here only layer 3 (layer 1's output is also a residual, layer 6
// feeds a generic conv).
void test_fused_plan() {
  TestNet net;
  const int emb = build_mobile_like(&net);
  const mfn_plan plan = net.plan(emb);
  NetPlan out;
  REQUIRE(build_plan(plan, 64, &out).ok());
  REQUIRE(out.steps.size() == 8);
  const KernelKind want[] = {KernelKind::stem, KernelKind::dwconv, KernelKind::gemm, KernelKind::gemm,
                             KernelKind::generic, KernelKind::dwconv, KernelKind::generic, KernelKind::generic};
  for (size_t i = 0; i < out.steps.size(); ++i) CHECK(out.steps[i].kind == want[i]);
  const Step& project = out.steps[3];
  CHECK(project.layer == 4 && project.dw.layer == 3);
  CHECK(project.dw.input == 3 && project.input == 4 && main_input(project) == 3);
  CHECK(project.dw.c == 32 && project.dw.kernel_h == 3 && project.dw.has_slope);
  CHECK(out.tensors[4].buffer < 0);  // the fused depthwise output is never materialised
  for (size_t i = 0; i < out.steps.size(); ++i) {
    if (i != 3) CHECK(out.steps[i].dw.layer < 0);
  }
  // The fused step keeps the depthwise layer's packed weights: [y][x][c].
  const mfn_conv_layer& ld = net.layers[3];
  CHECK(out.weights_fp16[project.dw.weight_offset + (1 * 3 + 2) * 32 + 30] == mfn::float_to_half(ld.weight[30 * 9 + 1 * 3 + 2]));
  CHECK(out.params_fp32[project.dw.bias_offset + 5] == ld.bias[5]);
  check_liveness(out, plan.num_tensors);
}

void test_dense_and_range() {
  TestNet net;
  const int x = net.tensor(3, 4, 4);
  const int a = net.conv(x, 8, 2, 2, 0, 1, true);   // stem: 8x2x2
  const int b = net.conv(a, 16, 2, 1, 0, 1, false);  // dense: the kernel covers the whole 2x2 input
  NetPlan out;
  REQUIRE(build_plan(net.plan(b), 4, &out).ok());
  const Step& dense = out.steps[1];
  CHECK(dense.kind == KernelKind::gemm);
  CHECK(dense.gemm_k == 2 * 2 * 8);
  const mfn_conv_layer& l = net.layers[1];
  // co 5, y 1, x 0, ci 6 -> [co][(y*2+x)*8+ci]
  CHECK(out.weights_fp16[dense.weight_offset + 5 * 32 + (1 * 2 + 0) * 8 + 6] == mfn::float_to_half(l.weight[((5 * 8 + 6) * 2 + 1) * 2 + 0]));

  // A weight outside the FP16 range sends the layer to the FP32 fallback.
  net.storage[3][3] = 1e6f;  // layer 1's weights (after layer 0's weights, bias and slopes)
  CHECK(choose_kernel(net.layers[1]) == KernelKind::generic);
}

void test_invalid_plans() {
  const auto code_of = [](TestNet& net, int output, int passes = 8) {
    NetPlan out;
    return build_plan(net.plan(output), passes, &out).code;
  };
  {
    TestNet net;
    const int emb = build_mobile_like(&net);
    CHECK(code_of(net, 0) == MFN_E_MODEL_INVALID);            // output is the input
    CHECK(code_of(net, 1) == MFN_E_MODEL_INVALID);            // output not 1x1
    CHECK(code_of(net, emb, 1 << 24) == MFN_E_INVALID_ARGUMENT);  // 3*16*16*2^24 >= 2^31
  }
  {
    TestNet net;
    const int emb = build_mobile_like(&net);
    net.layers[3].input = 5;  // reads a tensor computed later
    CHECK(code_of(net, emb) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    const int emb = build_mobile_like(&net);
    net.layers[2].out_c = 24;  // differs from its tensor
    CHECK(code_of(net, emb) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    const int emb = build_mobile_like(&net);
    net.layers[1].stride_h = 2;  // 8x8 output no longer follows
    CHECK(code_of(net, emb) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    const int emb = build_mobile_like(&net);
    net.layers[5].group = 3;  // does not divide 16
    CHECK(code_of(net, emb) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    const int emb = build_mobile_like(&net);
    net.layers[4].weight = nullptr;
    CHECK(code_of(net, emb) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    const int emb = build_mobile_like(&net);
    net.layers[6].output = net.layers[5].output;  // written twice
    CHECK(code_of(net, emb) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    const int emb = build_mobile_like(&net);
    net.tensors[0].c = 4;
    net.layers[0].in_c = 4;
    CHECK(code_of(net, emb) == MFN_E_MODEL_UNSUPPORTED);
  }
  {
    TestNet net;
    const int emb = build_mobile_like(&net);
    mfn_plan p = net.plan(emb);
    p.num_layers = 0;
    NetPlan out;
    CHECK(build_plan(p, 8, &out).code == MFN_E_MODEL_INVALID);
    p = net.plan(emb);
    p.channel_src[1] = 3;
    CHECK(build_plan(p, 8, &out).code == MFN_E_MODEL_INVALID);
  }
}

void test_buckets_and_chunks() {
  const int want[][2] = {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 6}, {6, 6}, {7, 8}, {9, 12}, {13, 16}, {17, 24},
                         {64, 64}, {65, 96}, {97, 128}, {200, 256}, {1000, 1024}};
  for (const auto& w : want) CHECK_MSG(bucket_for(w[0], 4096) == w[1], "bucket_for(%d) = %d", w[0], bucket_for(w[0], 4096));
  CHECK(bucket_for(100, 80) == 80);
  CHECK(bucket_for(1, 1) == 1);
  for (int n = 1; n <= 2048; ++n) {
    const int b = bucket_for(n, 4096);
    CHECK_MSG(b >= n && 2 * b <= 3 * n, "bucket_for(%d) = %d", n, b);  // at most a third of a bucket is padding
  }
  CHECK(chunk_size(1, 256) == 1);
  CHECK(chunk_size(128, 256) == 128);
  CHECK(chunk_size(129, 256) == 64);
  CHECK(chunk_size(256, 256) == 64);
  CHECK(chunk_size(1024, 1024) == 256);
  CHECK(chunk_size(5000, 64) == 64);
  CHECK(chunk_size(200, 48) == 48);
  CHECK(chunk_size(100, 7) == 7);
}

mfn_image make_image(int w, int h, const float t[6]) {
  static const uint8_t pixel = 0;
  mfn_image im{};
  im.data = &pixel;
  im.width = w, im.height = h, im.channels = 3, im.order = MFN_ORDER_BGR;
  im.row_stride = static_cast<size_t>(w) * 3;
  for (int k = 0; k < 6; ++k) im.transform[k] = t[k];
  im.border = MFN_BORDER_CLAMP;
  return im;
}

void test_sampled_rect() {
  const float identity[6] = {1, 0, 0, 0, 1, 0};
  Rect r = sampled_rect(make_image(112, 112, identity), 112, 112);
  CHECK(r.x0 == 0 && r.y0 == 0 && r.w == 112 && r.h == 112);
  const float shifted[6] = {1, 0, 500, 0, 1, 300};
  r = sampled_rect(make_image(1000, 1000, shifted), 112, 112);
  CHECK(r.x0 == 499 && r.w == 115 && r.y0 == 299 && r.h == 115);
  const float outside[6] = {1, 0, 5000, 0, 1, -5000};
  r = sampled_rect(make_image(100, 50, outside), 112, 112);
  CHECK(r.x0 == 99 && r.w == 1 && r.y0 == 0 && r.h == 1);

  // Property: every bilinear tap (computed in float, as on the device) that
  // lies inside the image lies inside the staged rectangle.
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> angle(-3.2f, 3.2f), scale(0.2f, 6.f), shift(-300.f, 900.f);
  int checked = 0;
  for (int trial = 0; trial < 300; ++trial) {
    const float a = angle(rng), s = scale(rng);
    const float t[6] = {s * std::cos(a), -s * std::sin(a), shift(rng), s * std::sin(a), s * std::cos(a), shift(rng)};
    const mfn_image im = make_image(640, 480, t);
    r = sampled_rect(im, 112, 112);
    CHECK(r.w >= 1 && r.h >= 1 && r.x0 >= 0 && r.y0 >= 0 && r.x0 + r.w <= 640 && r.y0 + r.h <= 480);
    for (int dy = 0; dy < 112; dy += 3) {
      for (int dx = 0; dx < 112; dx += 3) {
        const float sx = t[0] * dx + t[1] * dy + t[2];
        const float sy = t[3] * dx + t[4] * dy + t[5];
        const int x0 = static_cast<int>(std::floor(sx)), y0 = static_cast<int>(std::floor(sy));
        for (int ty = y0; ty <= y0 + 1; ++ty) {
          for (int tx = x0; tx <= x0 + 1; ++tx) {
            if (tx < 0 || ty < 0 || tx >= 640 || ty >= 480) continue;
            ++checked;
            if (tx < r.x0 || tx >= r.x0 + r.w || ty < r.y0 || ty >= r.y0 + r.h) {
              CHECK_MSG(false, "tap (%d, %d) outside rect (%d, %d, %d, %d)", tx, ty, r.x0, r.y0, r.w, r.h);
              return;
            }
          }
        }
      }
    }
  }
  CHECK(checked > 10000);
}

void test_check_image() {
  const float identity[6] = {1, 0, 0, 0, 1, 0};
  mfn_image im = make_image(112, 112, identity);
  CHECK(check_image(im, 0).ok());
  mfn_image bad = im;
  bad.data = nullptr;
  CHECK(check_image(bad, 0).code == MFN_E_INVALID_ARGUMENT);
  bad = im;
  bad.channels = 2;
  CHECK(check_image(bad, 0).code == MFN_E_INVALID_CHANNELS);
  bad = im;
  bad.width = 0;
  CHECK(check_image(bad, 0).code == MFN_E_INVALID_DIMENSIONS);
  bad = im;
  bad.row_stride = 100;
  CHECK(check_image(bad, 0).code == MFN_E_INVALID_ARGUMENT);
  bad = im;
  bad.transform[4] = NAN;
  CHECK(check_image(bad, 3).code == MFN_E_INVALID_ARGUMENT);
  CHECK(check_image(bad, 3).message.find("image 3") != std::string::npos);
  bad = im;
  bad.order = 7;
  CHECK(check_image(bad, 0).code == MFN_E_INVALID_ARGUMENT);
  bad = im;
  bad.border = -1;
  CHECK(check_image(bad, 0).code == MFN_E_INVALID_ARGUMENT);
}

// ---- MaxPool and raw outputs ------------------------------------------------

// stem -> maxpool 2x2/s2 -> depthwise s2 -> 1x1 + the pool as residual, with
// the last conv's output and the pool's as raw outputs, as the detector's
// strided blocks are built.
void build_pooled(TestNet* net) {
  const int x = net->tensor(3, 16, 16);
  const int stem = net->conv(x, 16, 3, 2, 1, 1, true);          // 0 stem: 16x8x8
  const int pool = net->maxpool(stem, 2, 2, 0);                 // 1 maxpool: 16x4x4
  const int dw = net->conv(stem, 16, 3, 2, 1, 16, false);       // 2 dwconv s2: 16x4x4
  const int out = net->conv(dw, 16, 1, 1, 0, 1, true, pool);    // 3 gemm + residual
  net->raw_outputs = {out, pool};
}

void test_pooled_plan() {
  TestNet net;
  build_pooled(&net);
  const mfn_plan plan = net.plan();
  NetPlan out;
  const Error e = build_plan(plan, 16, &out, /*fuse_depthwise=*/false);
  REQUIRE_MSG(e.ok(), "%s", e.message.c_str());
  REQUIRE(out.steps.size() == 4);
  CHECK(out.steps[1].kind == KernelKind::maxpool && !out.steps[1].has_slope);
  CHECK(out.raw() && out.outputs.size() == 2 && out.outputs[0] == 4 && out.outputs[1] == 2);
  CHECK(out.output_floats == 2 * 16 * 4 * 4);
  CHECK(out.embedding_size == 0);
  // The pool's output stays live past its last reader (step 3).
  check_liveness(out, plan.num_tensors);
  NetPlan fused;
  REQUIRE(build_plan(plan, 16, &fused).ok());
  REQUIRE(fused.steps.size() == 3);
  CHECK(fused.steps[2].kind == KernelKind::gemm && fused.steps[2].dw.layer == 2 && fused.steps[2].dw.stride_h == 2);
  check_liveness(fused, plan.num_tensors);

  // A depthwise layer whose output is returned is not fused away.
  TestNet ret;
  build_pooled(&ret);
  ret.raw_outputs.push_back(3);
  NetPlan kept;
  REQUIRE(build_plan(ret.plan(), 16, &kept).ok());
  CHECK(kept.steps.size() == 4 && kept.steps[2].kind == KernelKind::dwconv && kept.tensors[3].buffer >= 0);
  check_liveness(kept, static_cast<int>(ret.tensors.size()));
}

// Malformed MaxPool layers and raw-output lists fail in planning.
void test_invalid_maxpool() {
  const auto code_of = [](TestNet& net, std::string* message = nullptr) {
    NetPlan out;
    const Error e = build_plan(net.plan(), 8, &out);
    if (message) *message = e.message;
    return e.code;
  };
  // Layer 1 given the shape that follows from its (changed) geometry.
  const auto reshape_pool = [](TestNet& net) {
    mfn_conv_layer& l = net.layers[1];
    l.out_h = (l.in_h + l.pad_top + l.pad_bottom - (l.dilation_h * (l.kernel_h - 1) + 1)) / l.stride_h + 1;
    l.out_w = (l.in_w + l.pad_left + l.pad_right - (l.dilation_w * (l.kernel_w - 1) + 1)) / l.stride_w + 1;
    net.tensors[l.output] = {l.out_c, l.out_h, l.out_w};
    net.raw_outputs = {l.output};  // layer 3's residual no longer fits: keep only the pool
    net.layers.pop_back();
  };
  std::string why;
  {
    TestNet net;
    build_pooled(&net);
    CHECK(code_of(net) == MFN_OK);
    reshape_pool(net);
    CHECK(code_of(net) == MFN_OK);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.layers[1].pad_top = 2;  // a window of the first row is padding only
    reshape_pool(net);
    CHECK(code_of(net, &why) == MFN_E_MODEL_INVALID && why.find("padding") != std::string::npos);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.layers[1].pad_right = 3;
    reshape_pool(net);
    CHECK(code_of(net, &why) == MFN_E_MODEL_INVALID && why.find("padding") != std::string::npos);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.layers[1].out_c = 8;  // a channel change (its tensor agrees)
    net.layers[1].group = 8;
    net.tensors[2].c = 8;
    reshape_pool(net);
    CHECK(code_of(net, &why) == MFN_E_MODEL_INVALID && why.find("channel") != std::string::npos);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.layers[1].group = 1;
    CHECK(code_of(net) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.layers[1].slope = net.layers[0].slope;  // an epilogue a pool does not have
    CHECK(code_of(net) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.layers[1].dilation_h = net.layers[1].dilation_w = 2;
    net.layers[1].pad_bottom = net.layers[1].pad_right = 1;
    reshape_pool(net);
    CHECK(code_of(net, &why) == MFN_E_MODEL_INVALID && why.find("dilation") != std::string::npos);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.layers[1].stride_h = 3;  // 4x4 no longer follows
    CHECK(code_of(net) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.layers[1].op = 7;
    CHECK(code_of(net) == MFN_E_MODEL_UNSUPPORTED);
  }
  // Raw-output lists: the input, an index out of range, a tensor no layer
  // writes, too many, none given.
  for (int bad : {0, 99}) {
    TestNet net;
    build_pooled(&net);
    net.raw_outputs[1] = bad;
    CHECK(code_of(net) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.tensor(16, 4, 4);  // tensor 5: never written
    net.raw_outputs.push_back(5);
    CHECK(code_of(net) == MFN_E_MODEL_INVALID);
  }
  {
    TestNet net;
    build_pooled(&net);
    net.raw_outputs.assign(17, 4);
    CHECK(code_of(net) == MFN_E_MODEL_INVALID);
    net.raw_outputs.assign(1, 4);
    mfn_plan p = net.plan();
    p.outputs = nullptr;
    NetPlan out;
    CHECK(build_plan(p, 8, &out).code == MFN_E_MODEL_INVALID);
  }
}

// The CUDA MaxPool arithmetic (pool_window.h: window, running max, tap
// order) against the CPU pool layer on the same NHWC floats, bit for bit,
// with NaN, infinities and signed zeros in the input, for the portable CPU
// kernels and the best ISA's (whose scalar channel tail follows the same NaN
// rule as its vector lanes).
void test_pool_window() {
  struct Case {
    int c, in_h, in_w, k_h, k_w, s_h, s_w, pt, pl, pb, pr;
  };
  const Case cases[] = {
      {8, 8, 8, 2, 2, 2, 2, 0, 0, 0, 0},   // the detector's 2x2/s2
      {4, 7, 9, 3, 3, 2, 2, 1, 1, 1, 1},   // odd sizes, symmetric padding
      {8, 6, 5, 3, 2, 1, 2, 0, 1, 2, 1},   // asymmetric padding and strides
      {12, 9, 9, 5, 5, 3, 3, 2, 4, 1, 0},  // pads up to kernel - 1
      {24, 5, 5, 5, 5, 1, 1, 4, 4, 4, 4},  // windows of a single tap
  };
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> value(-4.f, 4.f);
  std::uniform_int_distribution<int> special(0, 15);
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  int compared = 0;
  for (const Case& k : cases) {
    mfn_conv_layer l{};
    l.op = MFN_OP_MAXPOOL;
    l.in_c = l.out_c = l.group = k.c;
    l.in_h = k.in_h, l.in_w = k.in_w;
    l.kernel_h = k.k_h, l.kernel_w = k.k_w, l.stride_h = k.s_h, l.stride_w = k.s_w;
    l.pad_top = k.pt, l.pad_left = k.pl, l.pad_bottom = k.pb, l.pad_right = k.pr;
    l.dilation_h = l.dilation_w = 1;
    l.out_h = (k.in_h + k.pt + k.pb - k.k_h) / k.s_h + 1;
    l.out_w = (k.in_w + k.pl + k.pr - k.k_w) / k.s_w + 1;
    const PoolGeometry g{k.c, k.in_h, k.in_w, l.out_h, l.out_w, k.k_h, k.k_w, k.s_h, k.s_w, k.pt, k.pl};
    for (bool specials : {true, false}) {
      std::vector<float> in(static_cast<size_t>(k.in_h) * k.in_w * k.c);
      for (float& v : in) {
        v = value(rng);
        const int s = specials ? special(rng) : 15;
        if (s == 0) v = nan;
        if (s == 1) v = inf;
        if (s == 2) v = -inf;
        if (s == 3) v = -0.f;
        if (s == 4) v = 0.f;
      }
      const auto at = [&](int iy, int ix) { return &in[(static_cast<size_t>(iy) * k.in_w + ix) * k.c]; };
      std::vector<float> mine(static_cast<size_t>(l.out_h) * l.out_w * k.c), lanes(mine.size());
      for (int oy = 0; oy < l.out_h; ++oy) {
        for (int ox = 0; ox < l.out_w; ++ox) {
          const PoolWindow w = pool_window(g, oy, ox);
          CHECK(w.y_begin < w.y_end && w.x_begin < w.x_end);
          const size_t o = (static_cast<size_t>(oy) * l.out_w + ox) * k.c;
          for (int ch = 0; ch < k.c; ++ch) mine[o + ch] = pool_reduce(w, [&](int iy, int ix) { return at(iy, ix)[ch]; });
          for (int c0 = 0; c0 + 8 <= k.c; c0 += 8) {  // the kernel's 8-channel path
            const Lanes8 m = pool_reduce(w, [&](int iy, int ix) {
              Lanes8 v;
              std::memcpy(v.v, at(iy, ix) + c0, sizeof(v.v));
              return v;
            });
            std::memcpy(&lanes[o + c0], m.v, sizeof(m.v));
          }
        }
      }
      if (k.c % 8 == 0) CHECK(std::memcmp(lanes.data(), mine.data(), mine.size() * sizeof(float)) == 0);
      mfn::cpu::ConvLayer layer;
      mfn::cpu::make_pool_layer(l, &layer);
      for (const mfn::cpu::Kernels* kernels : {&mfn::cpu::kernels_generic(), &mfn::cpu::best_kernels()}) {
        std::vector<float> ref(mine.size(), 12345.f);
        mfn::cpu::run_pool_layer(layer, *kernels, in.data(), ref.data(), 0, 1);
        CHECK_MSG(std::memcmp(ref.data(), mine.data(), ref.size() * sizeof(float)) == 0,
                  "pool %dx%d/s%d c=%d (%s kernels, specials %d) differs from the CPU", k.k_h, k.k_w, k.s_h, k.c,
                  kernels->name, specials);
        ++compared;
      }
    }
  }
  CHECK(compared == 20);  // 5 cases x (specials, finite) x 2 kernel sets
}

// Staged pixels shared between images of one buffer.
void test_staging_plan() {
  std::vector<uint8_t> photo(1000 * 800 * 3), other(1000 * 800 * 3);
  const auto image = [](const std::vector<uint8_t>& px, float x, float y) {
    mfn_image im{};
    im.data = px.data();
    im.width = 1000, im.height = 800, im.channels = 3, im.order = MFN_ORDER_RGB;
    im.row_stride = 1000 * 3;
    const float t[6] = {1, 0, x, 0, 1, y};
    std::memcpy(im.transform, t, sizeof(t));
    return im;
  };
  // Plans the staging of `ims`; checks that every image's rectangle lies in
  // its region, of the same pixels, and that no more bytes are staged than
  // without sharing (returned).
  const auto staged = [](const std::vector<mfn_image>& ims, StagingPlan* plan) {
    std::vector<Rect> rects;
    size_t apart = 0;
    for (const mfn_image& im : ims) {
      rects.push_back(sampled_rect(im, 112, 112));
      apart += rect_bytes(rects.back(), im.channels);
    }
    *plan = plan_staging(ims.data(), rects.data(), ims.size());
    CHECK(plan->region_of.size() == ims.size() && plan->bytes <= apart);
    for (size_t i = 0; i < ims.size(); ++i) {
      const StagedRegion& r = plan->regions[plan->region_of[i]];
      const mfn_image& src = ims[r.image];
      CHECK(src.data == ims[i].data && src.row_stride == ims[i].row_stride && r.image <= i);
      CHECK(r.rect.x0 <= rects[i].x0 && r.rect.y0 <= rects[i].y0 && r.rect.x0 + r.rect.w >= rects[i].x0 + rects[i].w &&
            r.rect.y0 + r.rect.h >= rects[i].y0 + rects[i].h);
      CHECK(r.rect.x0 >= 0 && r.rect.y0 >= 0 && r.rect.x0 + r.rect.w <= src.width && r.rect.y0 + r.rect.h <= src.height);
    }
    return apart;
  };
  StagingPlan plan;
  // The same face three times: one upload.
  size_t apart = staged({image(photo, 100, 100), image(photo, 100, 100), image(photo, 100, 100)}, &plan);
  CHECK(plan.regions.size() == 1 && plan.bytes * 3 == apart);
  // Overlapping faces: joined; far apart, or in another buffer: not.
  apart = staged({image(photo, 100, 100), image(photo, 120, 110), image(photo, 700, 500), image(other, 100, 100)}, &plan);
  CHECK(plan.regions.size() == 3 && plan.region_of[0] == plan.region_of[1] && plan.bytes < apart);
  CHECK(plan.region_of[2] != plan.region_of[0] && plan.region_of[3] != plan.region_of[0]);
  // The same pointer read with another width and stride is other pixels.
  mfn_image narrow = image(photo, 100, 100);
  narrow.width = 500, narrow.row_stride = 500 * 3;
  staged({image(photo, 100, 100), narrow}, &plan);
  CHECK(plan.regions.size() == 2);
  // Many faces of two photos, in any order.
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> at(-50.f, 950.f);
  std::vector<mfn_image> faces;
  for (int i = 0; i < 300; ++i) faces.push_back(image(i % 7 == 0 ? other : photo, at(rng), at(rng) * 0.8f));
  apart = staged(faces, &plan);
  std::printf("300 faces of two photos: %zu regions, %zu of %zu bytes staged\n", plan.regions.size(), plan.bytes, apart);
  CHECK(plan.regions.size() < 300);
}

// The shipped BlazeFace detector, lowered by the engine: MaxPool layers, the
// channel-padding 1x1 identity convs, a 5x5/s2 stem with asymmetric padding,
// depthwise s1 and s2, raw outputs of 2, 6, 32 and 96 channels.
void test_real_detector() {
  mfn::Model model;
  const std::string root = MFN_REPO_ROOT;
  const mfn::Status s = mfn::load_model(root + "/models/blazeface_back_256.onnx", root + "/models/detector.json", &model);
  REQUIRE_MSG(s.is_ok(), "%s", s.message().c_str());
  const mfn_plan& plan = model.plan;
  NetPlan unfused;
  const Error e = build_plan(plan, 64, &unfused, /*fuse_depthwise=*/false);
  REQUIRE_MSG(e.ok(), "%s", e.message.c_str());
  REQUIRE(unfused.steps.size() == static_cast<size_t>(plan.num_layers));
  check_liveness(unfused, plan.num_tensors);
  int pools = 0, depthwise = 0, pads = 0;
  for (const Step& st : unfused.steps) {
    const mfn_conv_layer& l = plan.layers[st.layer];
    // The fast kernel wherever the channel counts allow one.
    KernelKind want = KernelKind::generic;
    if (l.op == MFN_OP_MAXPOOL) {
      want = KernelKind::maxpool, ++pools;
    } else if (l.group == l.in_c && l.in_c == l.out_c && l.group > 1) {
      want = KernelKind::dwconv, ++depthwise;
    } else if (l.in_c == 3) {
      want = KernelKind::stem;
    } else if (l.kernel_h == 1 && l.kernel_w == 1 && l.out_c % 8 == 0) {
      want = KernelKind::gemm;
      if (l.in_c < l.out_c && !l.slope && l.residual < 0) ++pads;
    }
    CHECK_MSG(st.kind == want, "layer %d (%s, %dx%d, %d -> %d channels) gets %s, not %s", st.layer,
              model.layer_names[st.layer].c_str(), l.kernel_h, l.kernel_w, l.in_c, l.out_c, kernel_name(st.kind),
              kernel_name(want));
    if (st.kind == KernelKind::generic) CHECK(l.out_c % 8 != 0);
  }
  CHECK(pools == 3 && pads == 2 && depthwise > 0);
  // The channel-padding convs are GEMMs with exact identity weights.
  for (const Step& st : unfused.steps) {
    const mfn_conv_layer& l = plan.layers[st.layer];
    if (st.kind != KernelKind::gemm || l.in_c >= l.out_c || l.slope) continue;
    int wrong = 0;
    for (int co = 0; co < l.out_c; ++co)
      for (int ci = 0; ci < l.in_c; ++ci)
        wrong += unfused.weights_fp16[st.weight_offset + static_cast<size_t>(co) * l.in_c + ci] != (co == ci ? 0x3c00 : 0);
    CHECK_MSG(wrong == 0, "layer %d: %d padding weights are not 0/1", st.layer, wrong);
  }

  NetPlan net;
  REQUIRE(build_plan(plan, 64, &net).ok());
  check_liveness(net, plan.num_tensors);
  int fused = 0, counts[5] = {0, 0, 0, 0, 0};
  for (const Step& st : net.steps) {
    fused += st.dw.layer >= 0 ? 1 : 0;
    ++counts[static_cast<int>(st.kind)];
  }
  // Every depthwise layer feeds a 1x1 conv alone.
  CHECK(fused == depthwise && counts[static_cast<int>(KernelKind::dwconv)] == 0);
  CHECK(net.steps.size() == unfused.steps.size() - depthwise);
  // The raw outputs, in plan order, each in a buffer of its own to the end.
  REQUIRE(net.raw() && net.outputs.size() == static_cast<size_t>(plan.num_outputs));
  size_t floats = 0;
  for (int i = 0; i < plan.num_outputs; ++i) {
    const mfn_tensor_desc& d = plan.tensors[plan.outputs[i]];
    CHECK(net.outputs[i] == plan.outputs[i]);
    floats += static_cast<size_t>(d.c) * d.h * d.w;
    for (int j = 0; j < i; ++j) CHECK(net.tensors[net.outputs[i]].buffer != net.tensors[net.outputs[j]].buffer);
  }
  CHECK(net.output_floats == floats && net.embedding_size == 0);
  size_t largest = 0;
  for (const TensorInfo& t : net.tensors) largest = std::max(largest, t.elements);
  std::printf("blazeface: %zu steps: %d gemm (%d with a fused depthwise layer), %d stem, %d generic, %d maxpool; "
              "%zu buffers, %.1f MiB of activations for 64 images; %zu output floats per image\n",
              net.steps.size(), counts[0], fused, counts[2], counts[3], counts[4], net.buffer_elements.size(),
              net.activation_bytes(64) / 1048576.0, net.output_floats);
  // 24x128x128 is the largest tensor: the 128x128 stage keeps two of them
  // (a block's input and output); the outputs add their own.
  CHECK(net.activation_bytes(1) <= (3 * largest + floats) * 2);
}

// The shipped MobileFaceNet, lowered by the engine: every layer must get a
// fast kernel (stem, depthwise, tensor-core GEMM), none the fallback, and
// the activations must fit a few buffers.
void test_real_model() {
  mfn::Model model;
  const std::string root = MFN_REPO_ROOT;
  const mfn::Status s = mfn::load_model(root + "/models/mobilefacenet.onnx", root + "/models/manifest.json", &model);
  REQUIRE(s.is_ok());
  NetPlan unfused;
  REQUIRE(build_plan(model.plan, 2 * 256, &unfused, /*fuse_depthwise=*/false).ok());
  CHECK(unfused.steps.size() == 50);
  check_liveness(unfused, model.plan.num_tensors);
  NetPlan net;
  const Error e = build_plan(model.plan, 2 * 256, &net);
  REQUIRE(e.ok());
  check_liveness(net, model.plan.num_tensors);
  int fused = 0;
  for (const Step& st : net.steps) fused += st.dw.layer >= 0 ? 1 : 0;
  int counts[4] = {0, 0, 0, 0};
  for (const Step& st : net.steps) {
    ++counts[static_cast<int>(st.kind)];
    CHECK_MSG(st.kind != KernelKind::generic, "layer %d (%s) falls back to the generic kernel", st.layer,
              model.layer_names[st.layer].c_str());
  }
  std::printf("mobilefacenet: %zu steps: %d gemm (%d with a fused depthwise layer), %d dwconv, %d stem, %d generic; "
              "%zu buffers, %.1f MiB of activations for 512 passes (%.1f MiB unfused); %zu FP16 weights\n",
              net.steps.size(), counts[0], fused, counts[1], counts[2], counts[3], net.buffer_elements.size(),
              net.activation_bytes(512) / 1048576.0, unfused.activation_bytes(512) / 1048576.0, net.weights_fp16.size());
  // Every depthwise layer (16 3x3 and the GDConv) feeds a 1x1 conv alone.
  CHECK(fused == 17);
  CHECK(net.steps.size() == 33);
  CHECK(counts[static_cast<int>(KernelKind::stem)] == 1);
  CHECK(net.embedding_size == 512);
  CHECK(net.buffer_elements.size() <= 4);
  // 56x56x128 is the largest tensor: at most three of them alive at once.
  CHECK(net.activation_bytes(1) <= 3 * 56 * 56 * 128 * 2);
}

}  // namespace

int main() {
  test_half_rounding();
  test_mobile_like_plan();
  test_fused_plan();
  test_dense_and_range();
  test_invalid_plans();
  test_buckets_and_chunks();
  test_sampled_rect();
  test_check_image();
  test_real_model();
  test_pooled_plan();
  test_invalid_maxpool();
  test_pool_window();
  test_staging_plan();
  test_real_detector();
  std::printf("cuda_plan_test: %d failure(s)\n", mfn_test::failures());
  return mfn_test::test_exit_code();
}
