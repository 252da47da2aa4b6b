// A small network built layer by layer as an mfn_plan (the C ABI the CUDA
// plugin receives), with random weights: the CUDA planner test
// (cpp/cuda/plan_test.cc) and the plugin test (cuda_plugin_test.cc) build
// their networks with it. conv() and maxpool() derive each output shape from
// their input; a network with raw outputs (a detector) lists them in
// raw_outputs.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "mfn/abi.h"

namespace mfn_test {

struct RandomNet {
  std::vector<mfn_tensor_desc> tensors;
  std::vector<mfn_conv_layer> layers;
  std::vector<std::vector<float>> storage;  // weights, biases and slopes, in the order they were made
  std::mt19937 rng{1234};
  int output = -1;
  std::vector<int32_t> raw_outputs;  // non-empty: plan() has raw outputs, no embedding

  int tensor(int c, int h, int w) {
    tensors.push_back({c, h, w});
    return static_cast<int>(tensors.size()) - 1;
  }
  const float* values(size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    storage.emplace_back(n);
    for (float& v : storage.back()) v = dist(rng);
    return storage.back().data();
  }
  // Appends a conv from `in` to a new tensor (weights, then bias, then
  // slopes when `act`); returns the new tensor's index.
  int conv(int in, int out_c, int k, int stride, int pad, int group, bool act, int residual = -1,
           bool after_act = false, int dilation = 1) {
    const mfn_tensor_desc i = tensors[in];
    const int span = dilation * (k - 1) + 1;
    const int oh = (i.h + 2 * pad - span) / stride + 1, ow = (i.w + 2 * pad - span) / stride + 1;
    const int out = tensor(out_c, oh, ow);
    mfn_conv_layer l{};
    l.input = in, l.output = out, l.residual = residual, l.residual_after_act = after_act ? 1 : 0;
    l.in_c = i.c, l.in_h = i.h, l.in_w = i.w, l.out_c = out_c, l.out_h = oh, l.out_w = ow;
    l.kernel_h = l.kernel_w = k;
    l.stride_h = l.stride_w = stride;
    l.pad_top = l.pad_left = l.pad_bottom = l.pad_right = pad;
    l.dilation_h = l.dilation_w = dilation;
    l.group = group;
    const int fan_in = (i.c / group) * k * k;
    const float a = 1.7f / std::sqrt(static_cast<float>(fan_in));
    l.weight = values(static_cast<size_t>(out_c) * (i.c / group) * k * k, -a, a);
    l.bias = values(out_c, -0.1f, 0.1f);
    l.slope = act ? values(out_c, 0.05f, 0.3f) : nullptr;
    layers.push_back(l);
    return out;
  }
  // Appends an MFN_OP_MAXPOOL layer (k x k, symmetric padding, no weights).
  int maxpool(int in, int k, int stride, int pad) {
    const mfn_tensor_desc i = tensors[in];
    const int oh = (i.h + 2 * pad - k) / stride + 1, ow = (i.w + 2 * pad - k) / stride + 1;
    const int out = tensor(i.c, oh, ow);
    mfn_conv_layer l{};
    l.op = MFN_OP_MAXPOOL;
    l.input = in, l.output = out, l.residual = -1;
    l.in_c = i.c, l.in_h = i.h, l.in_w = i.w, l.out_c = i.c, l.out_h = oh, l.out_w = ow;
    l.kernel_h = l.kernel_w = k;
    l.stride_h = l.stride_w = stride;
    l.pad_top = l.pad_left = l.pad_bottom = l.pad_right = pad;
    l.dilation_h = l.dilation_w = 1;
    l.group = i.c;
    layers.push_back(l);
    return out;
  }
  // The plan with `out` (default: `output`) as the embedding, or with the
  // raw outputs when there are any; a BGR model
  // normalised to [-1, 1].
  mfn_plan plan(int out = -1) const {
    mfn_plan p{};
    p.num_tensors = static_cast<int>(tensors.size());
    p.tensors = tensors.data();
    p.num_layers = static_cast<int>(layers.size());
    p.layers = layers.data();
    p.output = out >= 0 ? out : output;
    if (!raw_outputs.empty()) {
      p.output = raw_outputs[0];
      p.num_outputs = static_cast<int32_t>(raw_outputs.size());
      p.outputs = raw_outputs.data();
    } else {
      p.embedding_size = tensors[p.output].c;
    }
    p.channel_src[0] = 2, p.channel_src[1] = 1, p.channel_src[2] = 0;
    for (int k = 0; k < 3; ++k) p.input_scale[k] = 1.f / 127.5f, p.input_bias[k] = -1.f;
    return p;
  }
};

}  // namespace mfn_test
