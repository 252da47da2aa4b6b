// Lowering: the shipped MobileFaceNet becomes 50 fused conv layers, and small
// hand-built graphs check each rewrite numerically against the unfused ONNX
// semantics (computed here directly), plus the manifest reader.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>

#include "core/manifest.h"
#include "core/model.h"
#include "tests/check.h"
#include "tests/onnx_builder.h"
#include "tests/test_data.h"

using mfn::Code;
using mfn::Status;
using mfn_test::float_tensor;
using mfn_test::GraphBuilder;
using mfn_test::node;

namespace {

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool near(double a, double b, double tol = 1e-5) { return std::fabs(a - b) <= tol * (1 + std::fabs(b)); }

std::string manifest_path() {
  const std::string model = mfn_test::model_path();
  return model.substr(0, model.find_last_of('/') + 1) + "manifest.json";
}

mfn::Manifest test_manifest(int height, int width, int embedding) {
  mfn::Manifest m;
  m.file = "test.onnx";
  m.input_name = "input";
  m.output_name = "output";
  m.layout = "NCHW";
  m.height = height;
  m.width = width;
  m.channel_order = "RGB";
  m.embedding_size = embedding;
  return m;
}

Status lower(const GraphBuilder& g, const mfn::Manifest& manifest, mfn::Model* model) {
  mfn::OnnxModel onnx;
  const std::vector<uint8_t> bytes = g.model();
  MFN_RETURN_IF_ERROR(mfn::read_onnx(bytes.data(), bytes.size(), &onnx));
  return mfn::lower_model(onnx, manifest, model);
}

std::vector<float> random_vector(size_t n, std::mt19937* rng, float lo = -1, float hi = 1) {
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(*rng);
  return v;
}

// ---- a naive interpreter of the plan, straight from the abi.h contract ----
std::vector<float> run_plan(const mfn_plan& plan, const std::vector<float>& input) {
  std::vector<std::vector<float>> t(plan.num_tensors);
  t[0] = input;
  for (int i = 0; i < plan.num_layers; ++i) {
    const mfn_conv_layer& l = plan.layers[i];
    const std::vector<float>& x = t[l.input];
    std::vector<float> y(static_cast<size_t>(l.out_c) * l.out_h * l.out_w);
    const int icg = l.in_c / l.group, ocg = l.out_c / l.group;
    for (int o = 0; o < l.out_c; ++o) {
      const int g = o / ocg;
      for (int oy = 0; oy < l.out_h; ++oy) {
        for (int ox = 0; ox < l.out_w; ++ox) {
          double acc = l.bias[o];
          for (int ci = 0; ci < icg; ++ci) {
            for (int ky = 0; ky < l.kernel_h; ++ky) {
              for (int kx = 0; kx < l.kernel_w; ++kx) {
                const int iy = oy * l.stride_h - l.pad_top + ky * l.dilation_h;
                const int ix = ox * l.stride_w - l.pad_left + kx * l.dilation_w;
                if (iy < 0 || iy >= l.in_h || ix < 0 || ix >= l.in_w) continue;
                acc += l.weight[((o * icg + ci) * l.kernel_h + ky) * l.kernel_w + kx] *
                       x[((g * icg + ci) * l.in_h + iy) * l.in_w + ix];
              }
            }
          }
          const size_t at = (static_cast<size_t>(o) * l.out_h + oy) * l.out_w + ox;
          const double res = l.residual >= 0 ? t[l.residual][at] : 0.0;
          if (!l.residual_after_act) acc += res;
          if (l.slope && acc < 0) acc *= l.slope[o];
          if (l.residual_after_act) acc += res;
          y[at] = static_cast<float>(acc);
        }
      }
    }
    t[l.output] = std::move(y);
  }
  return t[plan.output];
}

// ---- direct ONNX semantics for the reference side ----
// Conv, NCHW, one image, group 1, stride 1, symmetric pad.
std::vector<float> ref_conv(const std::vector<float>& x, int c, int h, int w, const std::vector<float>& wt, int oc, int k,
                            int pad, const std::vector<float>& bias) {
  std::vector<float> y(static_cast<size_t>(oc) * h * w);
  for (int o = 0; o < oc; ++o)
    for (int yy = 0; yy < h; ++yy)
      for (int xx = 0; xx < w; ++xx) {
        double acc = bias.empty() ? 0.0 : bias[o];
        for (int ci = 0; ci < c; ++ci)
          for (int ky = 0; ky < k; ++ky)
            for (int kx = 0; kx < k; ++kx) {
              const int iy = yy - pad + ky, ix = xx - pad + kx;
              if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
              acc += wt[((o * c + ci) * k + ky) * k + kx] * x[(ci * h + iy) * w + ix];
            }
        y[(o * h + yy) * w + xx] = static_cast<float>(acc);
      }
  return y;
}

std::vector<float> ref_mean(const std::vector<float>& x, int c, int hw) {
  std::vector<float> y(c);
  for (int i = 0; i < c; ++i) {
    double s = 0;
    for (int j = 0; j < hw; ++j) s += x[i * hw + j];
    y[i] = static_cast<float>(s / hw);
  }
  return y;
}

float prelu(float v, float a) { return v < 0 ? v * a : v; }

bool all_near(const std::vector<float>& a, const std::vector<float>& b, double tol = 1e-4) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!near(a[i], b[i], tol)) {
      std::printf("  mismatch at %zu: %g vs %g\n", i, a[i], b[i]);
      return false;
    }
  }
  return true;
}

// Every pointer of the plan points into the model's own storage, with the
// element count its layer implies, and every tensor reference is consistent.
void check_plan_integrity(const mfn::Model& model) {
  const mfn_plan& p = model.plan;
  CHECK(p.tensors == model.tensors.data() && p.num_tensors == static_cast<int>(model.tensors.size()));
  CHECK(p.layers == model.layers.data() && p.num_layers == static_cast<int>(model.layers.size()));
  CHECK(model.layer_names.size() == model.layers.size());
  auto owned = [&model](const float* ptr, size_t count) {
    for (const std::vector<float>& s : model.storage) {
      if (ptr == s.data()) return s.size() == count;
    }
    return false;
  };
  for (int i = 0; i < p.num_layers; ++i) {
    const mfn_conv_layer& l = p.layers[i];
    CHECK_MSG(owned(l.weight, static_cast<size_t>(l.out_c) * (l.in_c / l.group) * l.kernel_h * l.kernel_w), "layer %d", i);
    CHECK(owned(l.bias, l.out_c));
    CHECK(l.slope == nullptr || owned(l.slope, l.out_c));
    REQUIRE(l.input >= 0 && l.input < p.num_tensors && l.output > 0 && l.output < p.num_tensors);
    const mfn_tensor_desc& in = p.tensors[l.input];
    const mfn_tensor_desc& out = p.tensors[l.output];
    CHECK(in.c == l.in_c && in.h == l.in_h && in.w == l.in_w);
    CHECK(out.c == l.out_c && out.h == l.out_h && out.w == l.out_w);
    CHECK(l.in_c % l.group == 0 && l.out_c % l.group == 0);
    if (l.residual >= 0) {
      const mfn_tensor_desc& r = p.tensors[l.residual];
      CHECK(r.c == l.out_c && r.h == l.out_h && r.w == l.out_w);
      // Produced before this layer: the input or an earlier layer's output.
      bool earlier = l.residual == 0;
      for (int j = 0; j < i; ++j) earlier = earlier || p.layers[j].output == l.residual;
      CHECK_MSG(earlier, "layer %d residual %d", i, l.residual);
    }
  }
}

// ---- the shipped model ----------------------------------------------------
void test_real_model() {
  mfn::Model model;
  Status s = mfn::load_model(mfn_test::model_path(), manifest_path(), &model);
  REQUIRE(s.is_ok());
  const mfn_plan& p = model.plan;
  check_plan_integrity(model);
  CHECK(p.num_layers == 50);
  int depthwise = 0, pointwise = 0, with_slope = 0, with_residual = 0;
  for (int i = 0; i < p.num_layers; ++i) {
    const mfn_conv_layer& l = p.layers[i];
    if (l.group == l.in_c && l.group > 1) ++depthwise;
    if (l.kernel_h == 1 && l.kernel_w == 1 && l.group == 1) ++pointwise;
    if (l.slope) ++with_slope;
    if (l.residual >= 0) {
      ++with_residual;
      CHECK(l.residual_after_act == 0 && l.slope == nullptr);  // linear bottleneck + skip
    }
  }
  CHECK(with_slope == 33);
  CHECK(with_residual == 12);
  CHECK(depthwise == 17);  // 15 block depthwise, the stem's 3x3 dw, and the GDConv
  CHECK(pointwise == 32);
  const mfn_conv_layer& stem = p.layers[0];
  CHECK(stem.input == 0 && stem.in_c == 3 && stem.in_h == 112 && stem.out_c == 64 && stem.out_h == 56);
  CHECK(stem.kernel_h == 3 && stem.stride_h == 2 && stem.stride_w == 2 && stem.pad_top == 1 && stem.pad_right == 1);
  CHECK(stem.group == 1 && stem.slope != nullptr);
  CHECK(model.layer_names[0] == "Conv_0");
  const mfn_conv_layer& gdc = p.layers[48];
  CHECK(gdc.kernel_h == 7 && gdc.kernel_w == 7 && gdc.group == 512 && gdc.out_h == 1 && gdc.out_w == 1 && !gdc.slope);
  const mfn_conv_layer& last = p.layers[49];
  CHECK(last.in_c == 512 && last.out_c == 512 && last.kernel_h == 1 && last.group == 1 && !last.slope);
  CHECK(p.output == last.output);
  CHECK(p.tensors[p.output].c == 512 && p.tensors[p.output].h == 1 && p.tensors[p.output].w == 1);
  CHECK(p.embedding_size == 512);
  CHECK(p.channel_src[0] == 2 && p.channel_src[1] == 1 && p.channel_src[2] == 0);
  for (int k = 0; k < 3; ++k) {
    CHECK(near(p.input_scale[k], 1.0 / 127.5));
    CHECK(near(p.input_bias[k], -1.0));
  }
  CHECK(model.manifest.embedding_size == 512 && model.manifest.channel_order == "BGR");

  // The manifest must agree with the graph.
  mfn::OnnxModel onnx;
  REQUIRE(mfn::read_onnx_file(mfn_test::model_path(), &onnx).is_ok());
  mfn::Manifest m = model.manifest;
  m.embedding_size = 128;
  mfn::Model other;
  s = mfn::lower_model(onnx, m, &other);
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "embeddingSize"));
  CHECK(other.plan.num_layers == 0 && other.layers.empty());
  m = model.manifest;
  m.input_name = "data";
  CHECK(mfn::lower_model(onnx, m, &other).code() == Code::model_unsupported);
  m = model.manifest;
  m.output_name = "fc1";
  CHECK(mfn::lower_model(onnx, m, &other).code() == Code::model_invalid);
  m = model.manifest;
  m.height = 96;
  s = mfn::lower_model(onnx, m, &other);
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "112"));
  s = mfn::load_model("/nonexistent.onnx", manifest_path(), &other);
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "/nonexistent.onnx"));
}

// ---- synthetic graphs -----------------------------------------------------
// Conv(3->2, 3x3, pad 1, bias) -> BatchNormalization -> GAP -> Flatten.
void test_batch_norm_folding() {
  std::mt19937 rng(1);
  const std::vector<float> w = random_vector(2 * 3 * 9, &rng), b = random_vector(2, &rng);
  const std::vector<float> gamma = {1.5f, -0.5f}, beta = {0.25f, 2.0f}, mean = {0.1f, -0.3f}, var = {0.8f, 2.5f};
  const float eps = 1e-3f;
  GraphBuilder g;
  g.add_input("input", {-1, 3, 5, 5})
      .add_initializer(float_tensor("w", {2, 3, 3, 3}, w))
      .add_initializer(float_tensor("b", {2}, b))
      .add_initializer(float_tensor("gamma", {2}, gamma))
      .add_initializer(float_tensor("beta", {2}, beta))
      .add_initializer(float_tensor("mean", {2}, mean))
      .add_initializer(float_tensor("var", {2}, var))
      .add_node(node("Conv", {"input", "w", "b"}, {"c"}, "conv", {mfn_test::attr_ints("pads", {1, 1, 1, 1})}))
      .add_node(node("BatchNormalization", {"c", "gamma", "beta", "mean", "var"}, {"bn"}, "bn",
                     {mfn_test::attr_float("epsilon", eps)}))
      .add_node(node("GlobalAveragePool", {"bn"}, {"gap"}, "gap"))
      .add_node(node("Flatten", {"gap"}, {"output"}, "flatten"))
      .add_output("output", {-1, 2});
  mfn::Model model;
  Status s = lower(g, test_manifest(5, 5, 2), &model);
  REQUIRE(s.is_ok());
  check_plan_integrity(model);
  REQUIRE(model.plan.num_layers == 2);
  const mfn_conv_layer& conv = model.plan.layers[0];
  for (int o = 0; o < 2; ++o) {
    const double scale = gamma[o] / std::sqrt(var[o] + eps);
    for (int j = 0; j < 27; ++j) CHECK(near(conv.weight[o * 27 + j], w[o * 27 + j] * scale));
    CHECK(near(conv.bias[o], (b[o] - mean[o]) * scale + beta[o]));
  }
  const mfn_conv_layer& gap = model.plan.layers[1];
  CHECK(gap.kernel_h == 5 && gap.kernel_w == 5 && gap.group == 2 && gap.out_h == 1 && gap.out_c == 2);
  for (int j = 0; j < 50; ++j) CHECK(near(gap.weight[j], 1.0 / 25));
  CHECK(model.layer_names[0] == "conv" && model.layer_names[1] == "gap");

  const std::vector<float> x = random_vector(3 * 25, &rng);
  std::vector<float> ref = ref_conv(x, 3, 5, 5, w, 2, 3, 1, b);
  for (int o = 0; o < 2; ++o)
    for (int j = 0; j < 25; ++j) {
      float& v = ref[o * 25 + j];
      v = (v - mean[o]) / std::sqrt(var[o] + eps) * gamma[o] + beta[o];
    }
  CHECK(all_near(run_plan(model.plan, x), ref_mean(ref, 2, 25)));
}

// BatchNormalization after a PRelu cannot fold into the conv: it becomes a
// 1x1 depthwise layer. On the graph input it folds into preprocessing.
void test_batch_norm_unfoldable() {
  GraphBuilder g;
  g.add_input("input", {-1, 3, 1, 1})
      .add_initializer(float_tensor("g3", {3}, {2, 4, 8}))
      .add_initializer(float_tensor("b3", {3}, {1, 0, -1}))
      .add_initializer(float_tensor("m3", {3}, {0.5f, 0, 0}))
      .add_initializer(float_tensor("v3", {3}, {1, 1, 1}))
      .add_initializer(float_tensor("w", {2, 3, 1, 1}, {1, 0, 0, 0, 1, 1}))
      .add_initializer(float_tensor("slope", {2, 1, 1}, {0.25f, 0.5f}))
      .add_initializer(float_tensor("g2", {2}, {3, 1}))
      .add_initializer(float_tensor("b2", {2}, {0, 1}))
      .add_initializer(float_tensor("m2", {2}, {1, 0}))
      .add_initializer(float_tensor("v2", {2}, {4, 1}))
      .add_node(node("BatchNormalization", {"input", "g3", "b3", "m3", "v3"}, {"x"}, "bn_in",
                     {mfn_test::attr_float("epsilon", 0)}))
      .add_node(node("Conv", {"x", "w"}, {"c"}, "conv"))
      .add_node(node("PRelu", {"c", "slope"}, {"p"}, "prelu"))
      .add_node(node("BatchNormalization", {"p", "g2", "b2", "m2", "v2"}, {"output"}, "bn_out",
                     {mfn_test::attr_float("epsilon", 0)}))
      .add_output("output", {-1, 2, 1, 1});
  mfn::Manifest manifest = test_manifest(1, 1, 2);
  manifest.mean[0] = manifest.mean[1] = manifest.mean[2] = 10;
  manifest.std[0] = manifest.std[1] = manifest.std[2] = 2;
  mfn::Model model;
  Status s = lower(g, manifest, &model);
  REQUIRE(s.is_ok());
  check_plan_integrity(model);
  REQUIRE(model.plan.num_layers == 2);
  // Input: ((pixel - 10) / 2 - m3) * g3 + b3.
  const float g3[3] = {2, 4, 8}, b3[3] = {1, 0, -1}, m3[3] = {0.5f, 0, 0};
  for (int k = 0; k < 3; ++k) {
    CHECK(near(model.plan.input_scale[k], 0.5 * g3[k]));
    CHECK(near(model.plan.input_bias[k], (-5.0 - m3[k]) * g3[k] + b3[k]));
    CHECK(model.plan.channel_src[k] == k);
  }
  const mfn_conv_layer& bn = model.plan.layers[1];
  CHECK(bn.group == 2 && bn.in_c == 2 && bn.kernel_h == 1 && bn.input == model.plan.layers[0].output);
  CHECK(model.layer_names[1] == "bn_out");
  CHECK(near(bn.weight[0], 1.5) && near(bn.weight[1], 1.0));
  CHECK(near(bn.bias[0], -1.5) && near(bn.bias[1], 1.0));
  CHECK(model.plan.layers[0].slope != nullptr && bn.slope == nullptr);
  // Numerically, from tensor 0 (already normalised) on.
  const std::vector<float> x = {0.5f, -2.0f, 1.0f};
  const float c0 = prelu(0.5f, 0.25f), c1 = prelu(-1.0f, 0.5f);
  const std::vector<float> ref = {(c0 - 1) / 2 * 3, (c1 - 0) / 1 * 1 + 1};
  CHECK(all_near(run_plan(model.plan, x), ref));
}

// Flatten -> Gemm (transB, alpha, beta) -> BatchNormalization (1-D), and
// MatMul with a [K, N] weight + Add of a bias.
void test_gemm() {
  std::mt19937 rng(2);
  const std::vector<float> wb = random_vector(3 * 12, &rng), c = random_vector(3, &rng);
  const std::vector<float> wm = random_vector(12 * 3, &rng), bias = {0.5f, -1, 2};
  GraphBuilder g;
  g.add_input("input", {-1, 3, 2, 2})
      .add_initializer(float_tensor("B", {3, 12}, wb))
      .add_initializer(float_tensor("C", {3}, c))
      .add_initializer(float_tensor("gamma", {3}, {2, 2, 2}))
      .add_initializer(float_tensor("beta", {3}, {0, 0, 1}))
      .add_initializer(float_tensor("mean", {3}, {0, 0, 0}))
      .add_initializer(float_tensor("var", {3}, {1, 1, 1}))
      .add_node(node("Flatten", {"input"}, {"f"}, "flatten"))
      .add_node(node("Gemm", {"f", "B", "C"}, {"g"}, "fc",
                     {mfn_test::attr_int("transB", 1), mfn_test::attr_float("alpha", 0.5f),
                      mfn_test::attr_float("beta", 2.0f)}))
      .add_node(node("BatchNormalization", {"g", "gamma", "beta", "mean", "var"}, {"output"}, "bn",
                     {mfn_test::attr_float("epsilon", 0)}))
      .add_output("output", {-1, 3});
  mfn::Model model;
  Status s = lower(g, test_manifest(2, 2, 3), &model);
  CHECK_MSG(s.is_ok(), "%s", s.message().c_str());
  REQUIRE(s.is_ok());
  check_plan_integrity(model);
  REQUIRE(model.plan.num_layers == 1);
  const mfn_conv_layer& fc = model.plan.layers[0];
  CHECK(fc.kernel_h == 2 && fc.kernel_w == 2 && fc.in_c == 3 && fc.out_c == 3 && fc.group == 1 && fc.out_h == 1);
  const std::vector<float> x = random_vector(12, &rng);
  std::vector<float> ref(3);
  for (int n = 0; n < 3; ++n) {
    double acc = 0;
    for (int k = 0; k < 12; ++k) acc += x[k] * wb[n * 12 + k];
    ref[n] = static_cast<float>((0.5 * acc + 2.0 * c[n]) * 2 + (n == 2 ? 1 : 0));
  }
  CHECK(all_near(run_plan(model.plan, x), ref));

  GraphBuilder mm;
  mm.add_input("input", {-1, 3, 2, 2})
      .add_initializer(float_tensor("W", {12, 3}, wm))
      .add_initializer(float_tensor("bias", {3}, bias))
      .add_initializer(mfn_test::int64_tensor("shape", {2}, {0, -1}))
      .add_node(node("Reshape", {"input", "shape"}, {"f"}, "reshape"))
      .add_node(node("MatMul", {"f", "W"}, {"m"}, "matmul"))
      .add_node(node("Add", {"m", "bias"}, {"output"}, "add_bias"))
      .add_output("output", {-1, 3});
  mfn::Model model2;
  s = lower(mm, test_manifest(2, 2, 3), &model2);
  REQUIRE(s.is_ok());
  REQUIRE(model2.plan.num_layers == 1);
  for (int n = 0; n < 3; ++n) {
    double acc = bias[n];
    for (int k = 0; k < 12; ++k) acc += x[k] * wm[k * 3 + n];
    ref[n] = static_cast<float>(acc);
  }
  CHECK(all_near(run_plan(model2.plan, x), ref));
}

// Input -> Conv A -> X; Conv B(X) -> Add(B, X) -> PRelu: act(conv + res);
// and Conv C(Z) -> PRelu -> Add(., Z): act(conv) + res. Relu has slope 0.
void test_residual_ordering() {
  std::mt19937 rng(3);
  const std::vector<float> wa = random_vector(9, &rng), wb = random_vector(9, &rng), wc = random_vector(9, &rng);
  const std::vector<float> slope = {0.1f, 0.2f, 0.3f};
  GraphBuilder g;
  g.add_input("input", {-1, 3, 2, 2})
      .add_initializer(float_tensor("wa", {3, 3, 1, 1}, wa))
      .add_initializer(float_tensor("wb", {3, 3, 1, 1}, wb))
      .add_initializer(float_tensor("wc", {3, 3, 1, 1}, wc))
      .add_initializer(float_tensor("slope", {3, 1, 1}, slope))
      .add_node(node("Conv", {"input", "wa"}, {"a"}, "conv_a"))
      .add_node(node("Relu", {"a"}, {"x"}, "relu_a"))
      .add_node(node("Conv", {"x", "wb"}, {"b"}, "conv_b"))
      .add_node(node("Add", {"x", "b"}, {"s"}, "add_b"))  // the conv's operand second
      .add_node(node("PRelu", {"s", "slope"}, {"z"}, "prelu_b"))
      .add_node(node("Conv", {"z", "wc"}, {"c"}, "conv_c"))
      .add_node(node("PRelu", {"c", "slope"}, {"d"}, "prelu_c"))
      .add_node(node("Add", {"d", "z"}, {"e"}, "add_c"))
      .add_node(node("Identity", {"e"}, {"e2"}, "identity"))
      .add_node(node("Dropout", {"e2"}, {"e3"}, "dropout"))
      .add_node(node("GlobalAveragePool", {"e3"}, {"output"}, "gap"))
      .add_output("output", {-1, 3, 1, 1});
  mfn::Model model;
  Status s = lower(g, test_manifest(2, 2, 3), &model);
  REQUIRE(s.is_ok());
  check_plan_integrity(model);
  REQUIRE(model.plan.num_layers == 4);
  const mfn_conv_layer *la = &model.plan.layers[0], *lb = &model.plan.layers[1], *lc = &model.plan.layers[2];
  CHECK(la->slope && la->slope[0] == 0 && la->slope[2] == 0 && la->residual < 0);
  CHECK(lb->residual == la->output && lb->residual_after_act == 0 && lb->slope && lb->slope[1] == slope[1]);
  CHECK(lc->residual == lb->output && lc->residual_after_act == 1 && lc->slope);
  CHECK(model.plan.layers[3].input == lc->output);

  const std::vector<float> x = random_vector(12, &rng);
  auto conv1x1 = [](const std::vector<float>& in, const std::vector<float>& w) { return ref_conv(in, 3, 2, 2, w, 3, 1, 0, {}); };
  std::vector<float> a = conv1x1(x, wa);
  for (float& v : a) v = std::max(v, 0.0f);
  std::vector<float> b = conv1x1(a, wb);
  for (size_t i = 0; i < b.size(); ++i) b[i] = prelu(b[i] + a[i], slope[i / 4]);
  std::vector<float> c = conv1x1(b, wc);
  for (size_t i = 0; i < c.size(); ++i) c[i] = prelu(c[i], slope[i / 4]) + b[i];
  CHECK(all_near(run_plan(model.plan, x), ref_mean(c, 3, 4)));
}

// A tensor read by two nodes cannot take a fused op: the op becomes its own
// layer and both readers see the right values.
void test_shared_tensor() {
  GraphBuilder g;
  g.add_input("input", {-1, 3, 1, 1})
      .add_initializer(float_tensor("w", {3, 3, 1, 1}, {1, 0, 0, 0, 1, 0, 0, 0, 1}))
      .add_initializer(float_tensor("slope", {1}, {0.5f}))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("PRelu", {"c", "slope"}, {"p"}, "prelu"))
      .add_node(node("Add", {"c", "p"}, {"output"}, "add"))
      .add_output("output", {-1, 3, 1, 1});
  mfn::Model model;
  Status s = lower(g, test_manifest(1, 1, 3), &model);
  REQUIRE(s.is_ok());
  check_plan_integrity(model);
  REQUIRE(model.plan.num_layers == 2);
  CHECK(model.plan.layers[0].slope == nullptr);
  CHECK(model.plan.layers[1].slope != nullptr && model.plan.layers[1].residual == model.plan.layers[0].output);
  CHECK(model.plan.layers[1].residual_after_act == 1);
  CHECK(all_near(run_plan(model.plan, {2, -2, 0}), {4, -3, 0}));
}

// Sub/Mul/Div by constants on the graph input fold into preprocessing;
// auto_pad SAME_UPPER with stride 2.
void test_input_folding_and_padding() {
  GraphBuilder g;
  g.add_input("input", {-1, 3, 4, 4})
      .add_initializer(float_tensor("sub", {1, 3, 1, 1}, {0.5f, 0.25f, -1}))
      .add_initializer(float_tensor("mul", {}, {2}))
      .add_initializer(float_tensor("div", {3, 1, 1}, {1, 2, 4}))
      .add_initializer(float_tensor("w", {4, 3, 3, 3}, std::vector<float>(108, 0.1f)))
      .add_node(node("Sub", {"input", "sub"}, {"s"}, "sub"))
      .add_node(node("Mul", {"mul", "s"}, {"m"}, "mul"))
      .add_node(node("Div", {"m", "div"}, {"d"}, "div"))
      .add_node(node("Conv", {"d", "w"}, {"c"}, "conv",
                     {mfn_test::attr_string("auto_pad", "SAME_UPPER"), mfn_test::attr_ints("strides", {2, 2})}))
      .add_node(node("GlobalAveragePool", {"c"}, {"output"}, "gap"))
      .add_output("output", {-1, 4, 1, 1});
  mfn::Manifest manifest = test_manifest(4, 4, 4);
  manifest.channel_order = "BGR";
  const float mean[3] = {100, 110, 120}, stdv[3] = {50, 60, 70};
  for (int k = 0; k < 3; ++k) {
    manifest.mean[k] = mean[k];
    manifest.std[k] = stdv[k];
  }
  mfn::Model model;
  Status s = lower(g, manifest, &model);
  REQUIRE(s.is_ok());
  check_plan_integrity(model);
  REQUIRE(model.plan.num_layers == 2);
  const float sub[3] = {0.5f, 0.25f, -1}, div[3] = {1, 2, 4};
  for (int k = 0; k < 3; ++k) {
    // ((p - mean)/std - sub) * 2 / div
    CHECK(near(model.plan.input_scale[k], 2.0 / stdv[k] / div[k]));
    CHECK(near(model.plan.input_bias[k], (-mean[k] / stdv[k] - sub[k]) * 2 / div[k]));
  }
  CHECK(model.plan.channel_src[0] == 2 && model.plan.channel_src[2] == 0);
  const mfn_conv_layer& conv = model.plan.layers[0];
  CHECK(conv.input == 0 && conv.out_h == 2 && conv.out_w == 2 && conv.stride_h == 2);
  CHECK(conv.pad_top == 0 && conv.pad_left == 0 && conv.pad_bottom == 1 && conv.pad_right == 1);
}

void test_errors() {
  const std::vector<float> w6(6, 1.0f);
  auto base = [&w6]() {
    GraphBuilder g;
    g.add_input("input", {-1, 3, 2, 2}).add_initializer(float_tensor("w", {2, 3, 1, 1}, w6));
    return g;
  };
  mfn::Model model;
  // An unsupported op, named with its node.
  GraphBuilder g = base();
  g.add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("Softmax", {"c"}, {"output"}, "softmax_3"))
      .add_output("output", {-1, 2, 1, 1});
  Status s = lower(g, test_manifest(2, 2, 2), &model);
  CHECK(s.code() == Code::model_unsupported && s.message() == "unsupported op 'Softmax' in node 'softmax_3'");
  CHECK(model.plan.num_layers == 0 && model.storage.empty());
  // An output that is not a vector.
  g = base();
  g.add_node(node("Conv", {"input", "w"}, {"output"}, "conv")).add_output("output", {-1, 2, 2, 2});
  s = lower(g, test_manifest(2, 2, 2), &model);
  CHECK(s.code() == Code::model_unsupported && contains(s.message(), "2x2x2"));
  // A weight that does not fit the input channels.
  g = GraphBuilder();
  g.add_input("input", {-1, 3, 2, 2})
      .add_initializer(float_tensor("w", {2, 4, 1, 1}, std::vector<float>(8, 1.0f)))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("GlobalAveragePool", {"c"}, {"output"}, "gap"))
      .add_output("output", {-1, 2, 1, 1});
  s = lower(g, test_manifest(2, 2, 2), &model);
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "conv"));
  // A read of a tensor nobody produced.
  g = base();
  g.add_node(node("Conv", {"nowhere", "w"}, {"c"}, "conv"))
      .add_node(node("GlobalAveragePool", {"c"}, {"output"}, "gap"))
      .add_output("output", {-1, 2, 1, 1});
  s = lower(g, test_manifest(2, 2, 2), &model);
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "nowhere"));
  // PRelu slopes that do not broadcast per channel.
  g = base();
  g.add_initializer(float_tensor("slope", {1, 2}, {1, 2}))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("PRelu", {"c", "slope"}, {"p"}, "prelu"))
      .add_node(node("GlobalAveragePool", {"p"}, {"output"}, "gap"))
      .add_output("output", {-1, 2, 1, 1});
  s = lower(g, test_manifest(2, 2, 2), &model);
  CHECK(s.code() == Code::model_unsupported && contains(s.message(), "slope"));
  // Reshape to something other than [N, C*H*W].
  g = base();
  g.add_initializer(mfn_test::int64_tensor("shape", {2}, {-1, 4}))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("Reshape", {"c", "shape"}, {"output"}, "reshape"))
      .add_output("output", {-1, 4});
  s = lower(g, test_manifest(2, 2, 2), &model);
  CHECK(s.code() == Code::model_unsupported && contains(s.message(), "Reshape"));
  // A Gemm weight of the wrong width.
  g = base();
  g.add_initializer(float_tensor("B", {5, 2}, std::vector<float>(10, 1.0f)))
      .add_node(node("Flatten", {"input"}, {"f"}, "flatten"))
      .add_node(node("Gemm", {"f", "B"}, {"output"}, "fc", {mfn_test::attr_int("transB", 1)}))
      .add_output("output", {-1, 5});
  s = lower(g, test_manifest(2, 2, 5), &model);
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "fc"));
  // A second graph input, and a custom-domain op.
  g = base();
  g.add_input("extra", {1})
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("GlobalAveragePool", {"c"}, {"output"}, "gap"))
      .add_output("output", {-1, 2, 1, 1});
  CHECK(lower(g, test_manifest(2, 2, 2), &model).code() == Code::model_unsupported);
  g = base();
  g.add_node(node("Conv", {"input", "w"}, {"c"}, "conv").bytes(7, "com.microsoft"))
      .add_node(node("GlobalAveragePool", {"c"}, {"output"}, "gap"))
      .add_output("output", {-1, 2, 1, 1});
  s = lower(g, test_manifest(2, 2, 2), &model);
  CHECK(s.code() == Code::model_unsupported && contains(s.message(), "com.microsoft.Conv"));
  // The graph input with a different channel count.
  g = GraphBuilder();
  g.add_input("input", {-1, 1, 2, 2})
      .add_node(node("GlobalAveragePool", {"input"}, {"output"}, "gap"))
      .add_output("output", {-1, 1, 1, 1});
  CHECK(lower(g, test_manifest(2, 2, 1), &model).code() == Code::model_unsupported);
}


// ---- ONNX (numpy) broadcasting --------------------------------------------
// Each constant operand either broadcasts per channel exactly as ONNX
// defines it, or the model is refused: never a per-channel reading of a
// shape that ONNX broadcasts along another axis.
void test_broadcasting() {
  const std::vector<float> w6 = {1, -2, 3, -4, 5, -6};
  // input 3x2x2 -> conv to 2 channels (2x2 spatial) -> op -> GAP.
  auto with_op = [&w6](const mfn_test::Pb& constant, const std::string& op, bool constant_first = false) {
    GraphBuilder g;
    g.add_input("input", {-1, 3, -1, -1})  // H x W from the manifest
        .add_initializer(float_tensor("w", {2, 3, 1, 1}, w6))
        .add_initializer(constant)
        .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
        .add_node(node(op, constant_first ? std::vector<std::string>{"k", "c"} : std::vector<std::string>{"c", "k"},
                       {"p"}, "op"))
        .add_node(node("GlobalAveragePool", {"p"}, {"output"}, "gap"))
        .add_output("output", {-1, 2, 1, 1});
    return g;
  };
  mfn::Model model;
  // PRelu slope [C] on N x C x H x W runs along W (here W == C == 2): not
  // per channel, so refused.
  Status s = lower(with_op(float_tensor("k", {2}, {0.1f, 0.2f}), "PRelu"), test_manifest(2, 2, 2), &model);
  CHECK_MSG(s.code() == Code::model_unsupported && contains(s.message(), "broadcast"), "%s", s.message().c_str());
  // [C] with W != C does not broadcast at all.
  s = lower(with_op(float_tensor("k", {2}, {0.1f, 0.2f}), "PRelu"), test_manifest(2, 3, 2), &model);
  CHECK(s.code() == Code::model_unsupported);
  // The same for Mul/Add: [C] and [C,1] are along W and H.
  for (const char* op : {"Mul", "Add", "Sub", "Div"}) {
    CHECK(lower(with_op(float_tensor("k", {2}, {2, 3}), op), test_manifest(2, 2, 2), &model).code() ==
          Code::model_unsupported);
    CHECK(lower(with_op(float_tensor("k", {2, 1}, {2, 3}), op), test_manifest(2, 2, 2), &model).code() ==
          Code::model_unsupported);
    // A rank-5 constant widens the output to 5-D, even if all its extra axes are 1.
    CHECK(lower(with_op(float_tensor("k", {1, 1, 2, 1, 1}, {2, 3}), op), test_manifest(2, 2, 2), &model).code() ==
          Code::model_unsupported);
    CHECK(lower(with_op(float_tensor("k", {1, 1, 1, 1, 1}, {2}), op), test_manifest(2, 2, 2), &model).code() ==
          Code::model_unsupported);
    // A batch axis other than 1 ties the model to one batch size.
    CHECK(lower(with_op(float_tensor("k", {2, 2, 1, 1}, {1, 2, 3, 4}), op), test_manifest(2, 2, 2), &model).code() ==
          Code::model_unsupported);
  }
  // Per channel or uniform: [C,1,1], [1,C,1,1], [1], [] all lower, with the
  // values ONNX gives.
  const std::vector<float> x = {0.5f, -1, 2, -0.25f, 1, 1, -3, 0, 0.75f, -2, 0.5f, 1};
  const std::vector<float> conv = ref_conv(x, 3, 2, 2, w6, 2, 1, 0, {});
  struct Case {
    std::vector<int64_t> dims;
    std::vector<float> values;
  };
  for (const Case& c : {Case{{2, 1, 1}, {0.1f, 0.2f}}, Case{{1, 2, 1, 1}, {0.1f, 0.2f}}, Case{{1}, {0.3f}},
                        Case{{}, {0.3f}}, Case{{1, 1, 1, 1}, {0.3f}}}) {
    auto at = [&c](size_t i) { return c.values.size() == 1 ? c.values[0] : c.values[i / 4]; };
    s = lower(with_op(float_tensor("k", c.dims, c.values), "PRelu"), test_manifest(2, 2, 2), &model);
    REQUIRE(s.is_ok());
    std::vector<float> want = conv;
    for (size_t i = 0; i < want.size(); ++i) want[i] = prelu(want[i], at(i));
    CHECK(all_near(run_plan(model.plan, x), ref_mean(want, 2, 4)));
    s = lower(with_op(float_tensor("k", c.dims, c.values), "Sub", true), test_manifest(2, 2, 2), &model);
    REQUIRE(s.is_ok());
    for (size_t i = 0; i < want.size(); ++i) want[i] = at(i) - conv[i];
    CHECK(all_near(run_plan(model.plan, x), ref_mean(want, 2, 4)));
  }
  // On a flattened [N, C] tensor, [C] and [1, C] are per feature (= channel).
  auto flat_op = [&w6](const mfn_test::Pb& constant) {
    GraphBuilder g;
    g.add_input("input", {-1, 3, 1, 1})
        .add_initializer(float_tensor("w", {2, 3, 1, 1}, w6))
        .add_initializer(constant)
        .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
        .add_node(node("Flatten", {"c"}, {"f"}, "flatten"))
        .add_node(node("Mul", {"f", "k"}, {"output"}, "op"))
        .add_output("output", {-1, 2});
    return g;
  };
  CHECK(lower(flat_op(float_tensor("k", {2}, {2, 3})), test_manifest(1, 1, 2), &model).is_ok());
  CHECK(lower(flat_op(float_tensor("k", {1, 2}, {2, 3})), test_manifest(1, 1, 2), &model).is_ok());
  CHECK(lower(flat_op(float_tensor("k", {2, 1, 1}, {2, 3})), test_manifest(1, 1, 2), &model).code() ==
        Code::model_unsupported);
  // A flattened [N, C] plus a 4-D [N, C, 1, 1] broadcasts to [N, C, N, C].
  GraphBuilder g;
  g.add_input("input", {-1, 3, 1, 1})
      .add_initializer(float_tensor("w", {3, 3, 1, 1}, std::vector<float>(9, 0.5f)))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("Flatten", {"c"}, {"f"}, "flatten"))
      .add_node(node("Add", {"f", "c"}, {"output"}, "add"))
      .add_output("output", {-1, 3});
  s = lower(g, test_manifest(1, 1, 3), &model);
  CHECK_MSG(s.code() == Code::model_unsupported, "%s", s.message().c_str());
  // Gemm's C broadcasts to [batch, N]: [N, 1] would need batch == N.
  for (const std::vector<int64_t>& dims : {std::vector<int64_t>{2, 1}, std::vector<int64_t>{2, 2}}) {
    GraphBuilder gemm;
    gemm.add_input("input", {-1, 3, 1, 1})
        .add_initializer(float_tensor("B", {2, 3}, w6))
        .add_initializer(float_tensor("C", dims, std::vector<float>(dims[0] * dims[1], 1.0f)))
        .add_node(node("Flatten", {"input"}, {"f"}, "flatten"))
        .add_node(node("Gemm", {"f", "B", "C"}, {"output"}, "fc", {mfn_test::attr_int("transB", 1)}))
        .add_output("output", {-1, 2});
    CHECK(lower(gemm, test_manifest(1, 1, 2), &model).code() == Code::model_unsupported);
  }
  // BatchNormalization parameters are 1-D [C]; training mode is refused.
  auto batch_norm = [](const std::vector<int64_t>& dims, const std::vector<mfn_test::Pb>& attrs) {
    GraphBuilder bn;
    bn.add_input("input", {-1, 3, 2, 2});
    for (const char* name : {"scale", "B", "mean", "var"}) bn.add_initializer(float_tensor(name, dims, {1, 1, 1}));
    bn.add_node(node("BatchNormalization", {"input", "scale", "B", "mean", "var"}, {"b"}, "bn", attrs))
        .add_node(node("GlobalAveragePool", {"b"}, {"g"}, "gap"))
        .add_node(node("Flatten", {"g"}, {"output"}, "flatten"))
        .add_output("output", {-1, 3});
    return bn;
  };
  mfn::Model plain;
  CHECK(lower(batch_norm({3}, {}), test_manifest(2, 2, 3), &plain).is_ok());
  CHECK(lower(batch_norm({3, 1, 1}, {}), test_manifest(2, 2, 3), &model).code() == Code::model_invalid);
  CHECK(lower(batch_norm({3}, {mfn_test::attr_int("training_mode", 1)}), test_manifest(2, 2, 3), &model).code() ==
        Code::model_unsupported);
  CHECK(lower(batch_norm({3}, {mfn_test::attr_int("spatial", 0)}), test_manifest(2, 2, 3), &model).code() ==
        Code::model_unsupported);
}

// ---- arithmetic that must overflow, and allocation bounds -----------------
void test_nonfinite_and_bounds() {
  mfn::Model model;
  // A finite weight that BatchNormalization folding scales past FLT_MAX.
  GraphBuilder g;
  g.add_input("input", {-1, 3, 1, 1})
      .add_initializer(float_tensor("w", {3, 3, 1, 1}, std::vector<float>(9, 3e38f)))
      .add_initializer(float_tensor("scale", {3}, {10, 1, 1}))
      .add_initializer(float_tensor("B", {3}, {0, 0, 0}))
      .add_initializer(float_tensor("mean", {3}, {0, 0, 0}))
      .add_initializer(float_tensor("var", {3}, {1, 1, 1}))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("BatchNormalization", {"c", "scale", "B", "mean", "var"}, {"b"}, "bn"))
      .add_node(node("Flatten", {"b"}, {"output"}, "flatten"))
      .add_output("output", {-1, 3});
  Status s = lower(g, test_manifest(1, 1, 3), &model);
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "finite"), "%s", s.message().c_str());
  // A weight that is infinite in the file.
  g = GraphBuilder();
  g.add_input("input", {-1, 3, 1, 1})
      .add_initializer(float_tensor("w", {3, 3, 1, 1}, {1, 1, 1, 1, INFINITY, 1, 1, 1, 1}))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("Flatten", {"c"}, {"output"}, "flatten"))
      .add_output("output", {-1, 3});
  CHECK(lower(g, test_manifest(1, 1, 3), &model).code() == Code::model_invalid);
  // A std whose reciprocal overflows float, and a mean that overflows with it.
  g = GraphBuilder();
  g.add_input("input", {-1, 3, 1, 1})
      .add_initializer(float_tensor("w", {3, 3, 1, 1}, std::vector<float>(9, 1)))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv"))
      .add_node(node("Flatten", {"c"}, {"output"}, "flatten"))
      .add_output("output", {-1, 3});
  mfn::Manifest m = test_manifest(1, 1, 3);
  CHECK(lower(g, m, &model).is_ok());
  m.std[1] = 1e-39f;
  s = lower(g, m, &model);
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "normalisation"), "%s", s.message().c_str());
  m = test_manifest(1, 1, 3);
  m.mean[0] = 3e38f;
  m.std[0] = 1e-3f;
  CHECK(lower(g, m, &model).code() == Code::model_invalid);

  // 2000 nodes sharing one 37 K-float weight would copy 290 MB of weights
  // out of a 100 KB file.
  g = GraphBuilder();
  g.add_input("input", {-1, 3, 1, 1})
      .add_initializer(float_tensor("w0", {64, 3, 1, 1}, std::vector<float>(192, 0.01f)))
      .add_initializer(float_tensor("w", {64, 64, 3, 3}, std::vector<float>(64 * 64 * 9, 0.01f)))
      .add_node(node("Conv", {"input", "w0"}, {"t0"}, "conv0"));
  for (int i = 1; i <= 2000; ++i) {
    g.add_node(node("Conv", {"t" + std::to_string(i - 1), "w"}, {"t" + std::to_string(i)}, "conv" + std::to_string(i),
                    {mfn_test::attr_ints("pads", {1, 1, 1, 1})}));
  }
  g.add_node(node("Flatten", {"t2000"}, {"output"}, "flatten")).add_output("output", {-1, 64});
  s = lower(g, test_manifest(1, 1, 64), &model);
  CHECK_MSG(s.code() == Code::model_unsupported && contains(s.message(), "weights exceed"), "%s", s.message().c_str());
  // One output of a conv reading 3 x 600 x 600 values: a per-thread im2col
  // scratch of gigabytes.
  g = GraphBuilder();
  g.add_input("input", {-1, 3, 600, 600})
      .add_initializer(float_tensor("w", {1, 3, 600, 600}, std::vector<float>(3 * 600 * 600, 0.0f)))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv", {mfn_test::attr_ints("pads", {1, 1, 1, 1})}))
      .add_node(node("GlobalAveragePool", {"c"}, {"gap"}, "gap"))
      .add_node(node("Flatten", {"gap"}, {"output"}, "flatten"))
      .add_output("output", {-1, 1});
  s = lower(g, test_manifest(600, 600, 1), &model);
  CHECK_MSG(s.code() == Code::model_unsupported && contains(s.message(), "per output"), "%s", s.message().c_str());
  // 30 depthwise identity convs on a 1024 x 1024 input: 94 M activation
  // values per image.
  g = GraphBuilder();
  g.add_input("input", {-1, 3, 1024, 1024}).add_initializer(float_tensor("w", {3, 1, 1, 1}, {1, 1, 1}));
  for (int i = 1; i <= 30; ++i) {
    g.add_node(node("Conv", {i == 1 ? "input" : "t" + std::to_string(i - 1), "w"}, {"t" + std::to_string(i)},
                    "conv" + std::to_string(i), {mfn_test::attr_int("group", 3)}));
  }
  g.add_node(node("GlobalAveragePool", {"t30"}, {"gap"}, "gap"))
      .add_node(node("Flatten", {"gap"}, {"output"}, "flatten"))
      .add_output("output", {-1, 3});
  s = lower(g, test_manifest(1024, 1024, 3), &model);
  CHECK_MSG(s.code() == Code::model_unsupported && contains(s.message(), "activations exceed"), "%s",
            s.message().c_str());
}

// ---- manifest -------------------------------------------------------------
Status manifest_from(const std::string& json, mfn::Manifest* m) {
  const std::string path = "/tmp/mfn_lower_test_manifest_" + std::to_string(::getpid()) + ".json";
  std::ofstream(path, std::ios::binary) << json;
  Status s = mfn::read_manifest(path, m);
  std::remove(path.c_str());
  return s;
}

void test_manifest() {
  mfn::Manifest m;
  Status s = mfn::read_manifest(manifest_path(), &m);
  REQUIRE(s.is_ok());
  CHECK(m.file == "mobilefacenet.onnx" && m.input_name == "input" && m.output_name == "output");
  CHECK(m.sha256.size() == 64 && m.layout == "NCHW" && m.height == 112 && m.width == 112);
  CHECK(m.channel_order == "BGR" && m.embedding_size == 512);
  CHECK(m.mean[0] == 127.5f && m.mean[2] == 127.5f && m.std[1] == 127.5f);

  const std::string rest = R"("input":"in","output":"out","height":4,"width":8,"embeddingSize":16)";
  s = manifest_from(R"( {"file":"a\"b\\c\u00e9\ud83d\ude00.onnx","channelOrder":"RGB","mean":[1,2.5,-3e1],)"
                    R"("std":[0.5,1E0,2],"extra":{"nested":[true,false,null,{"x":[]}]},)" +
                        rest + "}\n",
                    &m);
  REQUIRE(s.is_ok());
  CHECK(m.file == "a\"b\\c\xc3\xa9\xf0\x9f\x98\x80.onnx");
  CHECK(m.channel_order == "RGB" && m.height == 4 && m.width == 8 && m.embedding_size == 16);
  CHECK(m.mean[0] == 1 && m.mean[1] == 2.5f && m.mean[2] == -30 && m.std[0] == 0.5f && m.std[2] == 2);

  const char* bad[] = {
      "",
      "[]",
      R"({"file":"a.onnx","channelOrder":"RGB")",                                   // truncated
      R"({"file":"a.onnx","channelOrder":"RGB"})",                                  // missing fields
      R"({"file":"a.onnx","channelOrder":"RGBA",)",                                 // bad order
      R"({"file":"a.onnx","channelOrder":"RGB","std":0,)",                          // std 0
      R"({"file":"a.onnx","channelOrder":"RGB","mean":[1,2],)",                     // 2 means
      R"({"file":"a.onnx","channelOrder":"RGB","mean":"x",)",                       // not a number
      R"({"file":3,"channelOrder":"RGB",)",                                         // file not a string
      R"({"file":"a","channelOrder":"RGB","input":"in","output":"out","height":4.5,"width":8,"embeddingSize":16})",
      R"({"file":"a\x.onnx","channelOrder":"RGB",)",                                // bad escape
      R"({"file":"a.onnx","channelOrder":"RGB",,)",                                 // double comma
      R"({"file":"a.onnx","channelOrder":"RGB","mean":01,)",                        // leading zero
  };
  for (const char* prefix : bad) {
    std::string json = prefix;
    if (!json.empty() && json.back() == ',') json += rest + "}";
    s = manifest_from(json, &m);
    CHECK_MSG(s.code() == Code::model_invalid, "%s -> %s", json.c_str(), s.message().c_str());
  }
  // Input sides beyond 1024 (a 2000x2000 input once made createEmbedder
  // stage 3 GiB).
  s = manifest_from(R"({"file":"a","channelOrder":"RGB","input":"in","output":"out","height":2000,"width":2000,)"
                    R"("embeddingSize":16})", &m);
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "1024"), "%s", s.message().c_str());
  s = manifest_from(R"({"file":"a","channelOrder":"RGB","input":"in","output":"out","height":4,"width":4,)"
                    R"("embeddingSize":65537})", &m);
  CHECK_MSG(s.code() == Code::model_invalid && contains(s.message(), "65536"), "%s", s.message().c_str());
  s = manifest_from(R"({"file":"a","channelOrder":"RGB","layout":"CHW",)" + rest + "}", &m);
  CHECK(s.code() == Code::model_unsupported);
  // Deep nesting is refused, not recursed into without bound.
  s = manifest_from(std::string(100000, '[') + std::string(100000, ']'), &m);
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "deep"));
  s = mfn::read_manifest("/nonexistent/manifest.json", &m);
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "/nonexistent/manifest.json"));
}

}  // namespace

int main() {
  test_real_model();
  test_batch_norm_folding();
  test_batch_norm_unfoldable();
  test_gemm();
  test_residual_ordering();
  test_shared_tensor();
  test_input_folding_and_padding();
  test_errors();
  test_broadcasting();
  test_nonfinite_and_bounds();
  test_manifest();
  std::printf("lower_test: %d failure(s)\n", mfn_test::failures());
  return mfn_test::test_exit_code();
}
