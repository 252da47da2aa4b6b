#include "cpu/network.h"

#include <algorithm>
#include <string>

namespace mfn {
namespace cpu {

namespace {

// Largest tensor accepted, in floats per image: far above any face model,
// small enough that index arithmetic cannot overflow.
constexpr size_t kMaxTensorFloats = size_t{1} << 28;

size_t tensor_floats(const mfn_tensor_desc& t) {
  return static_cast<size_t>(t.c) * static_cast<size_t>(t.h) * static_cast<size_t>(t.w);
}

Status invalid(const std::string& what) { return Status(Code::model_invalid, "plan: " + what); }

int conv_out(int in, int pad_a, int pad_b, int kernel, int stride, int dilation) {
  const long span = static_cast<long>(dilation) * (kernel - 1) + 1;
  const long padded = static_cast<long>(in) + pad_a + pad_b;
  if (padded < span) return 0;
  return static_cast<int>((padded - span) / stride + 1);
}

Status check_layer(const mfn_plan& plan, int i, const std::vector<bool>& produced) {
  const mfn_conv_layer& l = plan.layers[i];
  const std::string at = "layer " + std::to_string(i) + ": ";
  auto in_range = [&](int t) { return t >= 0 && t < plan.num_tensors; };
  if (!in_range(l.input) || !in_range(l.output) || l.output == 0 || (l.residual != -1 && !in_range(l.residual)))
    return invalid(at + "tensor index out of range");
  if (!produced[l.input] || (l.residual >= 0 && !produced[l.residual]))
    return invalid(at + "reads a tensor before it is written");
  if (produced[l.output]) return invalid(at + "writes a tensor written before");
  const mfn_tensor_desc& ti = plan.tensors[l.input];
  const mfn_tensor_desc& to = plan.tensors[l.output];
  if (ti.c != l.in_c || ti.h != l.in_h || ti.w != l.in_w) return invalid(at + "input shape differs from its tensor");
  if (to.c != l.out_c || to.h != l.out_h || to.w != l.out_w) return invalid(at + "output shape differs from its tensor");
  if (l.residual >= 0) {
    const mfn_tensor_desc& tr = plan.tensors[l.residual];
    if (tr.c != to.c || tr.h != to.h || tr.w != to.w) return invalid(at + "residual shape differs from the output");
  }
  if (l.op != MFN_OP_CONV && l.op != MFN_OP_MAXPOOL) return Status(Code::model_unsupported, "plan: " + at + "unknown op");
  if (l.op == MFN_OP_MAXPOOL &&
      (l.in_c != l.out_c || l.group != l.out_c || l.residual >= 0 || l.slope != nullptr || l.dilation_h != 1 ||
       l.dilation_w != 1 || l.pad_top >= l.kernel_h || l.pad_bottom >= l.kernel_h || l.pad_left >= l.kernel_w ||
       l.pad_right >= l.kernel_w))
    return invalid(at + "MaxPool with channel change, epilogue, dilation or pads not below the kernel");
  if (l.kernel_h < 1 || l.kernel_w < 1 || l.stride_h < 1 || l.stride_w < 1 || l.dilation_h < 1 || l.dilation_w < 1 ||
      l.pad_top < 0 || l.pad_left < 0 || l.pad_bottom < 0 || l.pad_right < 0 || l.kernel_h > 4096 ||
      l.kernel_w > 4096 || l.pad_top > 4096 || l.pad_left > 4096 || l.pad_bottom > 4096 || l.pad_right > 4096)
    return invalid(at + "bad kernel, stride, dilation or padding");
  if (l.group < 1 || l.in_c % l.group != 0 || l.out_c % l.group != 0)
    return invalid(at + "channels are not divisible by the group count");
  if (conv_out(l.in_h, l.pad_top, l.pad_bottom, l.kernel_h, l.stride_h, l.dilation_h) != l.out_h ||
      conv_out(l.in_w, l.pad_left, l.pad_right, l.kernel_w, l.stride_w, l.dilation_w) != l.out_w)
    return invalid(at + "output size does not follow from the convolution");
  if (l.op == MFN_OP_CONV && (l.weight == nullptr || l.bias == nullptr)) return invalid(at + "missing weights or bias");
  const size_t k = static_cast<size_t>(l.kernel_h) * l.kernel_w * (l.in_c / l.group);
  if (k > kMaxTensorFloats) return Status(Code::model_unsupported, "plan: " + at + "kernel too large");
  return Status::ok();
}

}  // namespace

Status Network::create(const mfn_plan& plan, const Kernels& kernels, std::unique_ptr<Network>* out) {
  if (plan.num_tensors < 2 || plan.tensors == nullptr || plan.num_layers < 1 || plan.layers == nullptr)
    return invalid("no tensors or no layers");
  for (int t = 0; t < plan.num_tensors; ++t) {
    const mfn_tensor_desc& d = plan.tensors[t];
    if (d.c < 1 || d.h < 1 || d.w < 1 || d.c > 1 << 20 || d.h > 1 << 16 || d.w > 1 << 16 ||
        tensor_floats(d) > kMaxTensorFloats)
      return invalid("tensor " + std::to_string(t) + " has a bad shape");
  }
  if (plan.tensors[0].c != 3) return Status(Code::model_unsupported, "plan: the input must have 3 channels");
  for (int k = 0; k < 3; ++k)
    if (plan.channel_src[k] < 0 || plan.channel_src[k] > 2) return invalid("channel_src out of range");
  // An embedding network returns its one c x 1 x 1 output; a detector its
  // raw outputs, concatenated.
  std::vector<int> outputs;
  if (plan.num_outputs == 0) {
    if (plan.output < 1 || plan.output >= plan.num_tensors) return invalid("output tensor out of range");
    const mfn_tensor_desc& emb = plan.tensors[plan.output];
    if (emb.h != 1 || emb.w != 1 || emb.c != plan.embedding_size || plan.embedding_size < 1)
      return invalid("the output tensor is not embedding_size x 1 x 1");
    outputs.push_back(plan.output);
  } else {
    if (plan.num_outputs < 0 || plan.num_outputs > 16 || plan.outputs == nullptr) return invalid("bad output list");
    for (int i = 0; i < plan.num_outputs; ++i) {
      if (plan.outputs[i] < 1 || plan.outputs[i] >= plan.num_tensors) return invalid("output tensor out of range");
      outputs.push_back(plan.outputs[i]);
    }
  }

  // Validate in execution order and find each tensor's last reader.
  std::vector<bool> produced(plan.num_tensors, false);
  produced[0] = true;
  std::vector<int> last_use(plan.num_tensors, -1);
  for (int i = 0; i < plan.num_layers; ++i) {
    MFN_RETURN_IF_ERROR(check_layer(plan, i, produced));
    const mfn_conv_layer& l = plan.layers[i];
    produced[l.output] = true;
    last_use[l.input] = i;
    if (l.residual >= 0) last_use[l.residual] = i;
  }
  for (int t : outputs) {
    if (!produced[t]) return invalid("an output tensor is never written");
    last_use[t] = plan.num_layers;
  }

  std::unique_ptr<Network> net(new Network());
  net->kernels_ = &kernels;
  net->outputs_ = outputs;
  net->raw_ = plan.num_outputs != 0;
  for (int t : outputs) {
    net->output_size_.push_back(tensor_floats(plan.tensors[t]));
    net->output_floats_ += net->output_size_.back();
  }
  net->input_floats_ = tensor_floats(plan.tensors[0]);
  net->layers_.resize(plan.num_layers);
  for (int i = 0; i < plan.num_layers; ++i) {
    if (plan.layers[i].op == MFN_OP_MAXPOOL) {
      make_pool_layer(plan.layers[i], &net->layers_[i]);
      continue;
    }
    if (!make_conv_layer(plan.layers[i], kernels, &net->layers_[i]))
      return Status(Code::out_of_memory, "plan: out of memory packing layer " + std::to_string(i));
    net->scratch_floats_ = std::max(net->scratch_floats_, conv_scratch_floats(net->layers_[i]));
  }

  // Arena slots: a layer's output takes a free slot (best fit, grown when
  // none is big enough); a tensor's slot frees after its last reader. A
  // layer never writes a slot it reads, since its inputs are still live.
  struct Slot {
    size_t floats = 0;
    int busy_until = -1;  // last layer that reads the tensor in it
  };
  std::vector<Slot> slots;
  std::vector<int> slot_of(plan.num_tensors, -1);
  for (int i = 0; i < plan.num_layers; ++i) {
    const int t = plan.layers[i].output;
    const size_t need = (tensor_floats(plan.tensors[t]) + 15) / 16 * 16;
    int best = -1;
    for (int s = 0; s < static_cast<int>(slots.size()); ++s) {
      if (slots[s].busy_until >= i) continue;
      if (best < 0) { best = s; continue; }
      const bool fits = slots[s].floats >= need, best_fits = slots[best].floats >= need;
      if ((fits && (!best_fits || slots[s].floats < slots[best].floats)) ||
          (!fits && !best_fits && slots[s].floats > slots[best].floats))
        best = s;
    }
    if (best < 0) {
      best = static_cast<int>(slots.size());
      slots.emplace_back();
    }
    slots[best].floats = std::max(slots[best].floats, need);
    slots[best].busy_until = std::max(last_use[t], i);
    slot_of[t] = best;
  }
  std::vector<size_t> slot_offset(slots.size());
  size_t total = 0;
  for (size_t s = 0; s < slots.size(); ++s) {
    slot_offset[s] = total;
    total += slots[s].floats;
  }
  net->arena_floats_ = total;
  net->offset_.assign(plan.num_tensors, 0);
  for (int t = 1; t < plan.num_tensors; ++t)
    if (slot_of[t] >= 0) net->offset_[t] = slot_offset[slot_of[t]];
  *out = std::move(net);
  return Status::ok();
}

void Network::run(const float* input, float* arena, float* scratch, float* out, int part, int parts,
                  ThreadPool* pool) const {
  auto tensor = [&](int t) -> float* { return t == 0 ? const_cast<float*>(input) : arena + offset_[t]; };
  for (const ConvLayer& layer : layers_) {
    const mfn_conv_layer& l = layer.geo;
    if (l.op == MFN_OP_MAXPOOL) {
      run_pool_layer(layer, *kernels_, tensor(l.input), tensor(l.output), part, parts);
    } else {
      run_conv_layer(layer, *kernels_, tensor(l.input), l.residual >= 0 ? tensor(l.residual) : nullptr,
                     tensor(l.output), scratch, part, parts);
    }
    if (parts > 1) pool->barrier();
  }
  if (part == 0) {
    for (size_t i = 0; i < outputs_.size(); ++i) {
      const float* t = arena + offset_[outputs_[i]];
      out = std::copy(t, t + output_size_[i], out);
    }
  }
  // The next image's first layer may reuse the output's memory.
  if (parts > 1) pool->barrier();
}

}  // namespace cpu
}  // namespace mfn
