#include "cuda/plan.h"

#include <cmath>
#include <cstring>
#include <string>

#include "core/half.h"

namespace mfn_cuda {
namespace {

constexpr float kHalfMax = 65504.f;
constexpr int kStemMaxInputChannels = 4;
constexpr size_t kStemMaxWeights = 12288;  // floats: 48 KB of shared memory

std::string layer_label(int index) { return "layer " + std::to_string(index); }

bool fits_half(const float* values, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!(std::fabs(values[i]) <= kHalfMax)) return false;
  }
  return true;
}

size_t weight_count(const mfn_conv_layer& l) {
  return static_cast<size_t>(l.out_c) * (l.in_c / l.group) * l.kernel_h * l.kernel_w;
}

int conv_out_size(int in, int kernel, int stride, int pad_a, int pad_b, int dilation) {
  const int span = dilation * (kernel - 1) + 1;
  const int padded = in + pad_a + pad_b;
  if (padded < span) return 0;
  return (padded - span) / stride + 1;
}

// What a MaxPool layer must be on top of a layer's common checks (the
// same as the CPU backend's): geometry only, one window per channel, and
// every window holding at least one tap inside the input, since padding
// never wins the max (a pad below the kernel size guarantees that).
template <typename Invalid>
Error check_maxpool(const mfn_conv_layer& l, const Invalid& invalid) {
  if (l.in_c != l.out_c || l.group != l.out_c) return invalid("MaxPool that changes the channel count or is not per channel");
  if (l.residual >= 0 || l.slope) return invalid("MaxPool with a residual or an activation");
  if (l.dilation_h != 1 || l.dilation_w != 1) return invalid("MaxPool with dilation");
  if (l.pad_top >= l.kernel_h || l.pad_bottom >= l.kernel_h || l.pad_left >= l.kernel_w || l.pad_right >= l.kernel_w) {
    return invalid("MaxPool padding not below the kernel size (a window of padding only)");
  }
  return Error::none();
}

Error check_layer(const mfn_plan& plan, int index, const std::vector<bool>& produced) {
  const mfn_conv_layer& l = plan.layers[index];
  const auto invalid = [&](const std::string& why) {
    return make_error(MFN_E_MODEL_INVALID, layer_label(index) + ": " + why);
  };
  if (l.op != MFN_OP_CONV && l.op != MFN_OP_MAXPOOL) {
    return make_error(MFN_E_MODEL_UNSUPPORTED, layer_label(index) + ": unknown op " + std::to_string(l.op));
  }
  if (l.input < 0 || l.input >= plan.num_tensors || l.output <= 0 || l.output >= plan.num_tensors ||
      l.residual < -1 || l.residual >= plan.num_tensors) {
    return invalid("tensor index out of range");
  }
  if (!produced[l.input]) return invalid("reads tensor " + std::to_string(l.input) + " before it is computed");
  if (l.residual >= 0 && !produced[l.residual]) return invalid("adds tensor " + std::to_string(l.residual) + " before it is computed");
  if (produced[l.output]) return invalid("writes tensor " + std::to_string(l.output) + " a second time");
  if (l.in_c <= 0 || l.in_h <= 0 || l.in_w <= 0 || l.out_c <= 0 || l.out_h <= 0 || l.out_w <= 0 ||
      l.kernel_h <= 0 || l.kernel_w <= 0 || l.stride_h <= 0 || l.stride_w <= 0 || l.dilation_h <= 0 ||
      l.dilation_w <= 0 || l.pad_top < 0 || l.pad_left < 0 || l.pad_bottom < 0 || l.pad_right < 0 || l.group <= 0) {
    return invalid("non-positive size, stride, dilation or group, or negative padding");
  }
  if (l.in_c > 65536 || l.out_c > 65536 || l.in_h > 16384 || l.in_w > 16384 || l.kernel_h > 1024 ||
      l.kernel_w > 1024 || l.stride_h > 1024 || l.stride_w > 1024 || l.dilation_h > 1024 || l.dilation_w > 1024 ||
      l.pad_top > 1024 || l.pad_left > 1024 || l.pad_bottom > 1024 || l.pad_right > 1024) {
    return invalid("a size, stride, dilation or padding is implausibly large");
  }
  if (l.in_c % l.group != 0 || l.out_c % l.group != 0) return invalid("group does not divide the channel counts");
  const mfn_tensor_desc& in = plan.tensors[l.input];
  const mfn_tensor_desc& out = plan.tensors[l.output];
  if (in.c != l.in_c || in.h != l.in_h || in.w != l.in_w) return invalid("input shape differs from its tensor");
  if (out.c != l.out_c || out.h != l.out_h || out.w != l.out_w) return invalid("output shape differs from its tensor");
  if (l.residual >= 0) {
    const mfn_tensor_desc& r = plan.tensors[l.residual];
    if (r.c != l.out_c || r.h != l.out_h || r.w != l.out_w) return invalid("residual shape differs from the output");
  }
  if (conv_out_size(l.in_h, l.kernel_h, l.stride_h, l.pad_top, l.pad_bottom, l.dilation_h) != l.out_h ||
      conv_out_size(l.in_w, l.kernel_w, l.stride_w, l.pad_left, l.pad_right, l.dilation_w) != l.out_w) {
    return invalid("output size does not follow from kernel, stride, padding and dilation");
  }
  if (l.op == MFN_OP_MAXPOOL) return check_maxpool(l, invalid);
  if (!l.weight || !l.bias) return invalid("missing weights or bias");
  return Error::none();
}

// What a run returns: the embedding (c x 1 x 1, num_outputs == 0), or the
// raw outputs in plan order (at most 16, as the CPU backend takes). Needs
// net->tensors filled.
Error take_outputs(const mfn_plan& plan, NetPlan* net) {
  const auto in_range = [&](int t) { return t > 0 && t < plan.num_tensors; };
  if (plan.num_outputs == 0) {
    if (!in_range(plan.output)) return make_error(MFN_E_MODEL_INVALID, "output tensor out of range");
    const mfn_tensor_desc& o = plan.tensors[plan.output];
    if (o.h != 1 || o.w != 1 || o.c != plan.embedding_size) {
      return make_error(MFN_E_MODEL_INVALID, "the output tensor is not embedding_size x 1 x 1");
    }
    net->output = plan.output;
    net->embedding_size = plan.embedding_size;
    net->output_floats = static_cast<size_t>(plan.embedding_size);
    return Error::none();
  }
  if (plan.num_outputs < 0 || plan.num_outputs > 16 || !plan.outputs) {
    return make_error(MFN_E_MODEL_INVALID, "bad raw output list (1 to 16 tensors)");
  }
  for (int i = 0; i < plan.num_outputs; ++i) {
    const int t = plan.outputs[i];
    if (!in_range(t)) return make_error(MFN_E_MODEL_INVALID, "raw output " + std::to_string(i) + " out of range");
    net->outputs.push_back(t);
    net->output_floats += net->tensors[t].elements;
  }
  return Error::none();
}

size_t align_up(size_t value, size_t alignment) { return (value + alignment - 1) / alignment * alignment; }

// Appends `count` values, starting at a 16-byte boundary; returns the offset.
size_t append_half(std::vector<uint16_t>* blob, size_t count) {
  const size_t offset = align_up(blob->size(), 8);
  blob->resize(offset + count, 0);
  return offset;
}
size_t append_float(std::vector<float>* blob, size_t count) {
  const size_t offset = align_up(blob->size(), 4);
  blob->resize(offset + count, 0.f);
  return offset;
}

// Packs the layer's weights ([out_c][in_c/group][kh][kw]) into its kernel's layout.
void pack_weights(const mfn_conv_layer& l, Step* step, NetPlan* net) {
  if (step->kind == KernelKind::maxpool) return;  // geometry only
  const int kh = l.kernel_h, kw = l.kernel_w;
  const int cig = l.in_c / l.group;
  const auto src = [&](int co, int ci, int y, int x) {
    return l.weight[((static_cast<size_t>(co) * cig + ci) * kh + y) * kw + x];
  };
  switch (step->kind) {
    case KernelKind::gemm: {  // [out_c][y][x][in_c]: matches an NHWC input row
      const size_t k = static_cast<size_t>(step->gemm_k);
      step->weight_offset = append_half(&net->weights_fp16, l.out_c * k);
      uint16_t* dst = net->weights_fp16.data() + step->weight_offset;
      for (int co = 0; co < l.out_c; ++co)
        for (int y = 0; y < kh; ++y)
          for (int x = 0; x < kw; ++x)
            for (int ci = 0; ci < l.in_c; ++ci)
              dst[co * k + (static_cast<size_t>(y) * kw + x) * l.in_c + ci] = mfn::float_to_half(src(co, ci, y, x));
      break;
    }
    case KernelKind::dwconv: {  // [y][x][c]: eight channels of one tap in 16 bytes
      step->weight_offset = append_half(&net->weights_fp16, static_cast<size_t>(kh) * kw * l.out_c);
      uint16_t* dst = net->weights_fp16.data() + step->weight_offset;
      for (int c = 0; c < l.out_c; ++c)
        for (int y = 0; y < kh; ++y)
          for (int x = 0; x < kw; ++x) dst[(static_cast<size_t>(y) * kw + x) * l.out_c + c] = mfn::float_to_half(src(c, 0, y, x));
      break;
    }
    case KernelKind::stem: {  // [y][x][ci][co] FP32
      step->weight_offset = append_float(&net->params_fp32, weight_count(l));
      float* dst = net->params_fp32.data() + step->weight_offset;
      for (int co = 0; co < l.out_c; ++co)
        for (int ci = 0; ci < l.in_c; ++ci)
          for (int y = 0; y < kh; ++y)
            for (int x = 0; x < kw; ++x)
              dst[((static_cast<size_t>(y) * kw + x) * l.in_c + ci) * l.out_c + co] = src(co, ci, y, x);
      break;
    }
    case KernelKind::generic: {  // the model's own layout, FP32
      step->weight_offset = append_float(&net->params_fp32, weight_count(l));
      std::memcpy(net->params_fp32.data() + step->weight_offset, l.weight, weight_count(l) * sizeof(float));
      break;
    }
    case KernelKind::maxpool:
      break;
  }
  step->bias_offset = append_float(&net->params_fp32, l.out_c);
  std::memcpy(net->params_fp32.data() + step->bias_offset, l.bias, l.out_c * sizeof(float));
  step->has_slope = l.slope != nullptr;
  if (l.slope) {
    step->slope_offset = append_float(&net->params_fp32, l.out_c);
    std::memcpy(net->params_fp32.data() + step->slope_offset, l.slope, l.out_c * sizeof(float));
  }
}

// The tensors read after the last step: the embedding, or every raw output.
std::vector<bool> returned_tensors(const NetPlan& net) {
  std::vector<bool> returned(net.tensors.size(), false);
  if (net.raw()) {
    for (int t : net.outputs) returned[t] = true;
  } else {
    returned[net.output] = true;
  }
  return returned;
}

// Folds each depthwise step into the 1x1 GEMM right after it when that GEMM
// is the only reader of its output (and the output is not returned).
void fuse_depthwise_steps(NetPlan* net) {
  const std::vector<bool> returned = returned_tensors(*net);
  std::vector<int> readers(net->tensors.size(), 0);
  for (const Step& st : net->steps) {
    ++readers[st.input];
    if (st.residual >= 0) ++readers[st.residual];
  }
  std::vector<Step> fused;
  for (size_t i = 0; i < net->steps.size(); ++i) {
    const Step& d = net->steps[i];
    if (i + 1 < net->steps.size() && d.kind == KernelKind::dwconv && d.residual < 0 && !returned[d.output] &&
        readers[d.output] == 1) {
      Step g = net->steps[i + 1];
      if (g.kind == KernelKind::gemm && g.kernel_h == 1 && g.kernel_w == 1 && g.input == d.output && g.dw.layer < 0) {
        FusedDepthwise& f = g.dw;
        f.layer = d.layer;
        f.input = d.input;
        f.c = d.in_c, f.in_h = d.in_h, f.in_w = d.in_w, f.out_h = d.out_h, f.out_w = d.out_w;
        f.kernel_h = d.kernel_h, f.kernel_w = d.kernel_w, f.stride_h = d.stride_h, f.stride_w = d.stride_w;
        f.pad_top = d.pad_top, f.pad_left = d.pad_left, f.dilation_h = d.dilation_h, f.dilation_w = d.dilation_w;
        f.weight_offset = d.weight_offset, f.bias_offset = d.bias_offset, f.slope_offset = d.slope_offset;
        f.has_slope = d.has_slope;
        fused.push_back(g);
        ++i;
        continue;
      }
    }
    fused.push_back(d);
  }
  net->steps = std::move(fused);
}

// Assigns tensors to buffers by liveness: a tensor holds its buffer from the
// step that writes it to the last step that reads it; a returned tensor
// (embedding, raw output) to the end of the run, so no later step reuses its
// buffer. A step's output never shares a buffer with that step's inputs (the
// kernels are not in-place).
void assign_buffers(const mfn_plan& plan, NetPlan* net) {
  const int num_tensors = plan.num_tensors;
  std::vector<int> last_use(num_tensors, -1);
  for (size_t s = 0; s < net->steps.size(); ++s) {
    const Step& st = net->steps[s];
    last_use[main_input(st)] = static_cast<int>(s);
    if (st.residual >= 0) last_use[st.residual] = static_cast<int>(s);
  }
  const std::vector<bool> returned = returned_tensors(*net);
  for (int t = 0; t < num_tensors; ++t) {
    if (returned[t]) last_use[t] = static_cast<int>(net->steps.size());  // read by the postprocess or copy-out
  }
  std::vector<bool> buffer_free;
  const auto take = [&](int tensor) {
    const size_t need = net->tensors[tensor].elements;
    int best = -1;
    for (size_t b = 0; b < buffer_free.size(); ++b) {
      if (!buffer_free[b]) continue;
      // Prefer the smallest free buffer that fits; else the largest one, grown.
      const bool fits = net->buffer_elements[b] >= need;
      if (best < 0) { best = static_cast<int>(b); continue; }
      const bool best_fits = net->buffer_elements[best] >= need;
      if (fits && (!best_fits || net->buffer_elements[b] < net->buffer_elements[best])) best = static_cast<int>(b);
      if (!fits && !best_fits && net->buffer_elements[b] > net->buffer_elements[best]) best = static_cast<int>(b);
    }
    if (best < 0) {
      best = static_cast<int>(buffer_free.size());
      buffer_free.push_back(false);
      net->buffer_elements.push_back(0);
    }
    buffer_free[best] = false;
    if (net->buffer_elements[best] < need) net->buffer_elements[best] = need;
    net->tensors[tensor].buffer = best;
  };
  take(0);
  for (size_t s = 0; s < net->steps.size(); ++s) {
    const Step& st = net->steps[s];
    take(st.output);
    for (int t : {main_input(st), st.residual}) {
      if (t >= 0 && last_use[t] == static_cast<int>(s) && net->tensors[t].buffer >= 0) buffer_free[net->tensors[t].buffer] = true;
    }
    if (last_use[st.output] < 0) buffer_free[net->tensors[st.output].buffer] = true;  // never read
  }
}

}  // namespace

const char* kernel_name(KernelKind kind) {
  switch (kind) {
    case KernelKind::gemm: return "gemm";
    case KernelKind::dwconv: return "dwconv";
    case KernelKind::stem: return "stem";
    case KernelKind::generic: return "generic";
    case KernelKind::maxpool: return "maxpool";
  }
  return "?";
}

KernelKind choose_kernel(const mfn_conv_layer& l) {
  if (l.op == MFN_OP_MAXPOOL) return KernelKind::maxpool;
  const bool vec_in = l.in_c % 8 == 0;
  const bool vec_out = l.out_c % 8 == 0;
  const bool half_ok = fits_half(l.weight, weight_count(l));
  const bool unit = l.stride_h == 1 && l.stride_w == 1 && l.pad_top == 0 && l.pad_left == 0 && l.pad_bottom == 0 &&
                    l.pad_right == 0;
  if (l.group == 1 && vec_in && vec_out && half_ok && unit) {
    if (l.kernel_h == 1 && l.kernel_w == 1) return KernelKind::gemm;
    // A dense layer (Gemm/MatMul lowered to a conv covering the whole input).
    if (l.kernel_h == l.in_h && l.kernel_w == l.in_w && l.dilation_h == 1 && l.dilation_w == 1 &&
        static_cast<size_t>(l.in_h) * l.in_w * l.in_c <= (size_t(1) << 30)) {
      return KernelKind::gemm;
    }
  }
  if (l.group == l.in_c && l.in_c == l.out_c && vec_in && half_ok) return KernelKind::dwconv;
  if (l.group == 1 && l.in_c <= kStemMaxInputChannels && vec_out && weight_count(l) <= kStemMaxWeights) {
    return KernelKind::stem;
  }
  return KernelKind::generic;
}

size_t NetPlan::activation_bytes(size_t passes) const {
  size_t total = 0;
  for (size_t e : buffer_elements) total += e * passes * sizeof(uint16_t);
  return total;
}

Error build_plan(const mfn_plan& plan, int max_passes, NetPlan* out, bool fuse_depthwise) {
  NetPlan net;
  if (plan.num_tensors < 2 || plan.num_tensors > 1000000 || !plan.tensors || plan.num_layers < 1 ||
      plan.num_layers > 1000000 || !plan.layers) {
    return make_error(MFN_E_MODEL_INVALID, "the plan has no layers or no tensors");
  }
  if (max_passes < 1) return make_error(MFN_E_INVALID_ARGUMENT, "max_batch must be at least 1");
  for (int t = 0; t < plan.num_tensors; ++t) {
    const mfn_tensor_desc& d = plan.tensors[t];
    if (d.c <= 0 || d.h <= 0 || d.w <= 0 || d.c > 65536 || d.h > 16384 || d.w > 16384) {
      return make_error(MFN_E_MODEL_INVALID, "tensor " + std::to_string(t) + " has an invalid shape");
    }
    TensorInfo info;
    info.c = d.c;
    info.h = d.h;
    info.w = d.w;
    info.elements = static_cast<size_t>(d.c) * d.h * d.w;
    if (info.elements * static_cast<size_t>(max_passes) >= kMaxTensorElements) {
      return make_error(MFN_E_INVALID_ARGUMENT, "max_batch " + std::to_string(max_passes) +
                                                    " passes is too large for tensor " + std::to_string(t) +
                                                    " of this model (2^31 elements at most)");
    }
    net.tensors.push_back(info);
  }
  if (static_cast<size_t>(plan.tensors[0].h) * plan.tensors[0].w > (size_t(1) << 24)) {
    return make_error(MFN_E_MODEL_UNSUPPORTED, "the CUDA backend takes network inputs of at most 2^24 pixels");
  }
  if (plan.tensors[0].c != 3) {
    return make_error(MFN_E_MODEL_UNSUPPORTED, "the CUDA backend needs a 3-channel network input, this one has " +
                                                   std::to_string(plan.tensors[0].c));
  }
  MFN_CUDA_RETURN_IF_ERROR(take_outputs(plan, &net));
  for (int k = 0; k < 3; ++k) {
    if (plan.channel_src[k] < 0 || plan.channel_src[k] > 2 || !std::isfinite(plan.input_scale[k]) ||
        !std::isfinite(plan.input_bias[k])) {
      return make_error(MFN_E_MODEL_INVALID, "invalid input channel mapping or normalisation");
    }
    net.channel_src[k] = plan.channel_src[k];
    net.input_scale[k] = plan.input_scale[k];
    net.input_bias[k] = plan.input_bias[k];
  }

  std::vector<bool> produced(plan.num_tensors, false);
  produced[0] = true;
  for (int i = 0; i < plan.num_layers; ++i) {
    MFN_CUDA_RETURN_IF_ERROR(check_layer(plan, i, produced));
    const mfn_conv_layer& l = plan.layers[i];
    produced[l.output] = true;
    Step step;
    step.kind = choose_kernel(l);
    step.layer = i;
    step.input = l.input;
    step.output = l.output;
    step.residual = l.residual;
    step.residual_after_act = l.residual_after_act != 0;
    step.in_c = l.in_c, step.in_h = l.in_h, step.in_w = l.in_w;
    step.out_c = l.out_c, step.out_h = l.out_h, step.out_w = l.out_w;
    step.kernel_h = l.kernel_h, step.kernel_w = l.kernel_w;
    step.stride_h = l.stride_h, step.stride_w = l.stride_w;
    step.pad_top = l.pad_top, step.pad_left = l.pad_left;
    step.dilation_h = l.dilation_h, step.dilation_w = l.dilation_w;
    step.group = l.group;
    step.gemm_k = l.kernel_h * l.kernel_w * l.in_c;
    pack_weights(l, &step, &net);
    net.steps.push_back(step);
  }
  const std::vector<bool> returned = returned_tensors(net);
  for (int t = 0; t < plan.num_tensors; ++t) {
    if (returned[t] && !produced[t]) return make_error(MFN_E_MODEL_INVALID, "no layer computes output tensor " + std::to_string(t));
  }
  if (fuse_depthwise) fuse_depthwise_steps(&net);
  assign_buffers(plan, &net);
  *out = std::move(net);
  return Error::none();
}

}  // namespace mfn_cuda
