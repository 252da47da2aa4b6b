// Test helpers for the CPU kernels: a random MobileFaceNet-shaped plan and
// naive convolutions (NCHW, double accumulation) to check against. Header
// only; used by cpu_ops_test and cpu_backend_test.
#pragma once

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <vector>

#include "mfn/abi.h"

namespace mfn_test {

// y = conv(x) + bias, then residual/PReLU in the layer's order; NCHW.
inline void naive_conv(const mfn_conv_layer& l, const float* in, const float* res, float* out) {
  const int cin_g = l.in_c / l.group, cout_g = l.out_c / l.group;
  for (int o = 0; o < l.out_c; ++o) {
    const int g = o / cout_g;
    for (int oy = 0; oy < l.out_h; ++oy) {
      for (int ox = 0; ox < l.out_w; ++ox) {
        double acc = 0.0;
        for (int ci = 0; ci < cin_g; ++ci) {
          const int c = g * cin_g + ci;
          for (int ky = 0; ky < l.kernel_h; ++ky) {
            const int iy = oy * l.stride_h - l.pad_top + ky * l.dilation_h;
            if (iy < 0 || iy >= l.in_h) continue;
            for (int kx = 0; kx < l.kernel_w; ++kx) {
              const int ix = ox * l.stride_w - l.pad_left + kx * l.dilation_w;
              if (ix < 0 || ix >= l.in_w) continue;
              acc += static_cast<double>(in[(static_cast<size_t>(c) * l.in_h + iy) * l.in_w + ix]) *
                     l.weight[((static_cast<size_t>(o) * cin_g + ci) * l.kernel_h + ky) * l.kernel_w + kx];
            }
          }
        }
        double x = acc + l.bias[o];
        const size_t idx = (static_cast<size_t>(o) * l.out_h + oy) * l.out_w + ox;
        if (res && !l.residual_after_act) x += res[idx];
        if (l.slope && x < 0) x *= l.slope[o];
        if (res && l.residual_after_act) x += res[idx];
        out[idx] = static_cast<float>(x);
      }
    }
  }
}

inline mfn_conv_layer conv_geometry(int in_c, int in_h, int in_w, int out_c, int k, int stride, int pad, int group) {
  mfn_conv_layer l{};
  l.residual = -1;
  l.in_c = in_c;
  l.in_h = in_h;
  l.in_w = in_w;
  l.out_c = out_c;
  l.kernel_h = l.kernel_w = k;
  l.stride_h = l.stride_w = stride;
  l.pad_top = l.pad_left = l.pad_bottom = l.pad_right = pad;
  l.dilation_h = l.dilation_w = 1;
  l.group = group;
  l.out_h = (in_h + 2 * pad - k) / stride + 1;
  l.out_w = (in_w + 2 * pad - k) / stride + 1;
  return l;
}

// A plan plus the storage it points into. Random weights scaled so that
// activations keep a unit-ish range through the depth of the network.
struct SyntheticPlan {
  std::vector<mfn_tensor_desc> tensors;
  std::vector<mfn_conv_layer> layers;
  std::vector<std::unique_ptr<std::vector<float>>> storage;
  mfn_plan plan{};
  std::mt19937 rng{1234};

  const float* random(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    storage.push_back(std::make_unique<std::vector<float>>(n));
    for (float& v : *storage.back()) v = dist(rng);
    return storage.back()->data();
  }

  // Appends a conv reading tensor `input`; returns its output tensor.
  int add(int input, int out_c, int k, int stride, int pad, int group, bool prelu, int residual = -1,
          bool residual_after_act = false) {
    const mfn_tensor_desc in = tensors[input];
    mfn_conv_layer l = conv_geometry(in.c, in.h, in.w, out_c, k, stride, pad, group);
    l.input = input;
    l.output = static_cast<int>(tensors.size());
    l.residual = residual;
    l.residual_after_act = residual_after_act ? 1 : 0;
    const int fan_in = in.c / group * k * k;
    const float scale = std::sqrt(3.0f / fan_in);
    l.weight = random(static_cast<size_t>(out_c) * fan_in, -scale, scale);
    l.bias = random(out_c, -0.1f, 0.1f);
    l.slope = prelu ? random(out_c, 0.05f, 0.4f) : nullptr;
    tensors.push_back(mfn_tensor_desc{out_c, l.out_h, l.out_w});
    layers.push_back(l);
    return l.output;
  }

  void finish(int output) {
    plan.num_tensors = static_cast<int>(tensors.size());
    plan.tensors = tensors.data();
    plan.num_layers = static_cast<int>(layers.size());
    plan.layers = layers.data();
    plan.output = output;
    plan.embedding_size = tensors[output].c;
    // BGR model, mean/std 127.5 like the real one.
    plan.channel_src[0] = 2;
    plan.channel_src[1] = 1;
    plan.channel_src[2] = 0;
    for (int k = 0; k < 3; ++k) {
      plan.input_scale[k] = 1.0f / 127.5f;
      plan.input_bias[k] = -1.0f;
    }
  }
};

// MobileFaceNet's layer structure (cpp docs: cuda-notes.md) at input size
// side x side (112 for the real shapes), random weights.
inline void build_mobilefacenet(SyntheticPlan* p, int side = 112, int embedding = 512) {
  p->tensors.push_back(mfn_tensor_desc{3, side, side});
  int x = p->add(0, 64, 3, 2, 1, 1, true);
  x = p->add(x, 64, 3, 1, 1, 64, true);
  auto block = [&](int in, int expand, int out_c, int stride, bool residual) {
    int e = p->add(in, expand, 1, 1, 0, 1, true);
    int d = p->add(e, expand, 3, stride, 1, expand, true);
    return p->add(d, out_c, 1, 1, 0, 1, false, residual ? in : -1, false);
  };
  x = block(x, 128, 64, 2, false);
  for (int i = 0; i < 4; ++i) x = block(x, 128, 64, 1, true);
  x = block(x, 256, 128, 2, false);
  for (int i = 0; i < 6; ++i) x = block(x, 256, 128, 1, true);
  x = block(x, 512, 128, 2, false);
  for (int i = 0; i < 2; ++i) x = block(x, 256, 128, 1, true);
  x = p->add(x, 512, 1, 1, 0, 1, true);
  const int s = p->tensors[x].h;
  x = p->add(x, 512, s, 1, 0, 512, false);  // GDConv: depthwise over the whole map
  x = p->add(x, embedding, 1, 1, 0, 1, false);
  p->finish(x);
}

// The plan's network on one NCHW input with the naive convolutions.
inline std::vector<float> naive_network(const mfn_plan& plan, const float* input) {
  std::vector<std::vector<float>> t(plan.num_tensors);
  const mfn_tensor_desc& d0 = plan.tensors[0];
  t[0].assign(input, input + static_cast<size_t>(d0.c) * d0.h * d0.w);
  for (int i = 0; i < plan.num_layers; ++i) {
    const mfn_conv_layer& l = plan.layers[i];
    t[l.output].resize(static_cast<size_t>(l.out_c) * l.out_h * l.out_w);
    naive_conv(l, t[l.input].data(), l.residual >= 0 ? t[l.residual].data() : nullptr, t[l.output].data());
  }
  return t[plan.output];
}

}  // namespace mfn_test
