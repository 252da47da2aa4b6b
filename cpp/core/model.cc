// Lowering an ONNX graph to the engine's plan of fused convolutions. Runs
// once, on the thread that loads the model; the result is immutable.
//
// Nodes are visited in file order (ONNX requires topological order). Every
// activation is one plan tensor produced by one layer. An op that only
// rescales or activates a tensor (BatchNormalization, PRelu, Relu, Add of a
// residual, Mul/Add by a constant) is fused into the layer that produced its
// input when nobody else reads that input; otherwise it becomes a 1x1
// depthwise layer of its own. Constant affine ops on the graph input fold into
// the plan's preprocessing instead.
#include "core/model.h"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <map>
#include <utility>

#include "core/model_file.h"
#include "core/sha256.h"

namespace mfn {
namespace {

// Sides and channel counts beyond this are not a face model, nor are
// tensors of more elements per image; the bounds keep every derived size
// (weights of a GlobalAveragePool, say) far from overflow.
constexpr int64_t kMaxDim = 1 << 20;
constexpr int64_t kMaxTensor = 1 << 24;
// Totals over the whole plan, so that a small file cannot make the engine
// allocate without bound (many nodes sharing one large initializer, say):
// weights, biases and slopes of all layers, and the values of all
// activation tensors of one image (a backend's per-image memory is at most
// that). MobileFaceNet needs about 1 M and 4 M.
constexpr size_t kMaxWeightFloats = size_t(1) << 26;
constexpr int64_t kMaxActivationFloats = int64_t(1) << 26;
// Weights of one output of a Conv (kh * kw * in_c / group): a backend's
// per-thread im2col scratch is a multiple of it.
constexpr int64_t kMaxKernelFloats = int64_t(1) << 20;

bool all_finite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

struct Layer {
  mfn_conv_layer desc{};  // pointers are filled in once storage is final
  std::vector<float> weight, bias, slope;
  std::string name;
};

struct Value {
  enum Kind { kConstant, kInput, kActivation, kZeros } kind = kActivation;
  const OnnxTensor* constant = nullptr;  // kConstant
  int tensor = -1;                       // kActivation
  bool flat = false;                     // a [N, C*H*W] view (Flatten, Reshape, Gemm)
  bool nhwc = false;                     // transposed to N,H,W,C (only a graph output may read it)
  std::vector<int64_t> zeros_dims;       // kZeros: ConstantOfShape(0) of this shape
  // kInput: the graph input after constant affine ops, as
  // value = manifest_normalised * scale + bias, per channel.
  double scale[3] = {1, 1, 1};
  double bias[3] = {0, 0, 0};
};

std::string dims_string(const std::vector<int64_t>& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) s += (i ? "," : "") + std::to_string(dims[i]);
  return s + "]";
}

class Lowerer {
 public:
  Lowerer(const OnnxModel& onnx, const Manifest& manifest, Model* out)
      : graph_(onnx.graph), manifest_(manifest), out_(out) {}

  Status run() {
    MFN_RETURN_IF_ERROR(bind_graph_inputs());
    for (size_t i = 0; i < graph_.nodes.size(); ++i) {
      const OnnxNode& node = graph_.nodes[i];
      node_name_ = node.name.empty() ? node.op_type + "#" + std::to_string(i) : node.name;
      MFN_RETURN_IF_ERROR(lower_node(node));
    }
    return finish();
  }

 private:
  // ---- errors -----------------------------------------------------------
  Status invalid(const std::string& what) const {
    return Status(Code::model_invalid, "node '" + node_name_ + "': " + what);
  }
  Status unsupported(const std::string& what) const {
    return Status(Code::model_unsupported, "node '" + node_name_ + "': " + what);
  }

  // ---- tensors and values ------------------------------------------------
  int new_tensor(int64_t c, int64_t h, int64_t w, int producer) {
    out_->tensors.push_back(mfn_tensor_desc{static_cast<int32_t>(c), static_cast<int32_t>(h),
                                            static_cast<int32_t>(w)});
    producer_.push_back(producer);
    readers_.push_back(0);
    return static_cast<int>(out_->tensors.size()) - 1;
  }

  const mfn_tensor_desc& desc(const Value& v) const { return out_->tensors[v.tensor]; }

  int uses(const std::string& name) const {
    auto it = uses_.find(name);
    return it == uses_.end() ? 0 : it->second;
  }

  // Binds an ONNX name. For an activation, its readers join the tensor's.
  // `via_alias`: the node reading the input is not itself a reader (an
  // alias or a fused op), so it is taken off the count.
  Status bind(const std::string& name, const Value& v, bool via_alias) {
    if (name.empty()) return Status::ok();
    if (!values_.emplace(name, v).second) return invalid("tensor '" + name + "' is produced twice");
    if (v.kind == Value::kActivation) readers_[v.tensor] += uses(name) - (via_alias ? 1 : 0);
    return Status::ok();
  }

  Status input_value(const OnnxNode& node, size_t index, Value* out) const {
    if (index >= node.inputs.size() || node.inputs[index].empty()) {
      return invalid("missing input " + std::to_string(index));
    }
    auto it = values_.find(node.inputs[index]);
    if (it == values_.end()) {
      return invalid("reads '" + node.inputs[index] + "', which no earlier node or initializer produces");
    }
    *out = it->second;
    return Status::ok();
  }

  // The graph input becomes plan tensor 0 with the affine it has reached;
  // two different affines of the same input cannot share one tensor.
  Status materialize(Value* v) {
    if (v->kind != Value::kInput) return Status::ok();
    if (input_bound_) {
      for (int k = 0; k < 3; ++k) {
        if (input_scale_[k] != v->scale[k] || input_bias_[k] != v->bias[k]) {
          return unsupported("the graph input is used with two different normalisations");
        }
      }
    }
    input_bound_ = true;
    for (int k = 0; k < 3; ++k) {
      input_scale_[k] = v->scale[k];
      input_bias_[k] = v->bias[k];
    }
    v->kind = Value::kActivation;
    v->tensor = 0;
    return Status::ok();
  }

  Status activation(const OnnxNode& node, size_t index, Value* v) {
    MFN_RETURN_IF_ERROR(input_value(node, index, v));
    if (v->kind == Value::kConstant || v->kind == Value::kZeros) {
      return unsupported("input '" + node.inputs[index] + "' is a constant; only activations are supported there");
    }
    if (v->nhwc) return unsupported("input '" + node.inputs[index] + "' is in NHWC order here (only graph outputs may be)");
    return materialize(v);
  }

  Status constant(const OnnxNode& node, size_t index, const OnnxTensor** t) const {
    Value v;
    MFN_RETURN_IF_ERROR(input_value(node, index, &v));
    if (v.kind != Value::kConstant) {
      return unsupported("input '" + node.inputs[index] + "' must be a constant initializer");
    }
    *t = v.constant;
    return Status::ok();
  }

  Status float_constant(const OnnxNode& node, size_t index, const OnnxTensor** t) const {
    MFN_RETURN_IF_ERROR(constant(node, index, t));
    if ((*t)->data_type != kOnnxFloat && (*t)->data_type != kOnnxDouble) {
      return unsupported("constant '" + (*t)->name + "' has data type " + std::to_string((*t)->data_type) +
                         ", not float");
    }
    if (static_cast<int64_t>((*t)->floats.size()) != (*t)->element_count()) {
      return invalid("constant '" + (*t)->name + "' has " + std::to_string((*t)->floats.size()) +
                     " values for shape " + dims_string((*t)->dims));
    }
    return Status::ok();
  }

  // The layer a fused op may join: the producer of v's tensor, when this
  // node is that tensor's only reader.
  int fusable_layer(const Value& v) const {
    if (v.kind != Value::kActivation || v.tensor <= 0 || readers_[v.tensor] != 1) return -1;
    // A MaxPool layer has no epilogue to fuse into.
    if (layers_[producer_[v.tensor]].desc.op != MFN_OP_CONV) return -1;
    return producer_[v.tensor];
  }

  // Channels a per-channel op sees: C of a CxHxW tensor; a flattened one
  // only when it is Cx1x1 (otherwise its features are not channels).
  Status channels(const Value& v, int* c) const {
    if (v.kind == Value::kInput) {
      *c = 3;
      return Status::ok();
    }
    const mfn_tensor_desc& d = desc(v);
    if (v.flat && d.h * d.w != 1) return unsupported("per-channel op on a flattened spatial tensor");
    *c = d.c;
    return Status::ok();
  }

  // A constant broadcast per channel under numpy rules: its dims, aligned to
  // the right of the activation's [N,C,H,W] (or [N,C] when flat), must be 1
  // everywhere but C, where they are 1 or C. So [C,1,1] and [1,C,1,1] are
  // per channel, a scalar is uniform, and [C] on a 4-D tensor is refused: it
  // runs along W (or would widen the output), not along C. A constant of
  // higher rank than the activation would widen the output: refused too.
  Status channel_vector(const OnnxTensor& t, int c, bool flat, std::vector<double>* out) const {
    const size_t rank = flat ? 2 : 4;
    const std::vector<int64_t>& d = t.dims;
    bool per_channel = d.size() <= rank;
    int64_t channel_dim = 1;
    for (size_t i = 0; i < d.size() && per_channel; ++i) {
      const size_t axis = rank - d.size() + i;  // aligned to the right
      if (axis == 1) {
        channel_dim = d[i];
        per_channel = d[i] == 1 || d[i] == c;
      } else {
        per_channel = d[i] == 1;
      }
    }
    if (!per_channel || t.floats.size() != static_cast<size_t>(channel_dim)) {
      return unsupported("constant '" + t.name + "' of shape " + dims_string(t.dims) +
                         " does not broadcast per channel over a " +
                         (flat ? "[N," + std::to_string(c) + "]" : "[N," + std::to_string(c) + ",H,W]") + " tensor");
    }
    if (channel_dim == 1) {
      out->assign(c, t.floats[0]);
    } else {
      out->assign(t.floats.begin(), t.floats.end());
    }
    return Status::ok();
  }

  // ---- layers -------------------------------------------------------------
  // A 1x1 depthwise layer on `in` (weights 1, bias 0): the carrier of ops
  // that cannot be fused into a producer.
  Layer identity_layer(const Value& in) const {
    const mfn_tensor_desc& d = desc(in);
    Layer l;
    set_geometry(&l.desc, d, d.c, d.h, d.w, 1, 1, d.c);
    l.weight.assign(d.c, 1.0f);
    l.bias.assign(d.c, 0.0f);
    l.desc.input = in.tensor;
    return l;
  }

  static void set_geometry(mfn_conv_layer* l, const mfn_tensor_desc& in, int64_t out_c, int64_t out_h, int64_t out_w,
                           int64_t kh, int64_t kw, int64_t group) {
    l->residual = -1;
    l->residual_after_act = 0;
    l->in_c = in.c;
    l->in_h = in.h;
    l->in_w = in.w;
    l->out_c = static_cast<int32_t>(out_c);
    l->out_h = static_cast<int32_t>(out_h);
    l->out_w = static_cast<int32_t>(out_w);
    l->kernel_h = static_cast<int32_t>(kh);
    l->kernel_w = static_cast<int32_t>(kw);
    l->stride_h = l->stride_w = 1;
    l->dilation_h = l->dilation_w = 1;
    l->group = static_cast<int32_t>(group);
  }

  // Appends the layer, creates its output tensor and binds `name` to it.
  Status add_layer(Layer l, const std::string& name, bool flat) {
    weight_floats_ += l.weight.size() + l.bias.size() + l.slope.size();
    if (weight_floats_ > kMaxWeightFloats) {
      return unsupported("the model's weights exceed " + std::to_string(kMaxWeightFloats) + " values");
    }
    activation_floats_ += static_cast<int64_t>(l.desc.out_c) * l.desc.out_h * l.desc.out_w;
    if (activation_floats_ > kMaxActivationFloats) {
      return unsupported("the model's activations exceed " + std::to_string(kMaxActivationFloats) + " values per image");
    }
    const int index = static_cast<int>(layers_.size());
    l.desc.output = new_tensor(l.desc.out_c, l.desc.out_h, l.desc.out_w, index);
    l.name = node_name_;
    const int tensor = l.desc.output;
    layers_.push_back(std::move(l));
    Value v;
    v.tensor = tensor;
    v.flat = flat;
    return bind(name, v, false);
  }

  // y = x * scale + shift per channel, fused when possible.
  Status apply_affine(Value x, const std::vector<double>& scale, const std::vector<double>& shift,
                      const std::string& out_name) {
    if (x.kind == Value::kInput) {
      for (int k = 0; k < 3; ++k) {
        x.scale[k] *= scale[k];
        x.bias[k] = x.bias[k] * scale[k] + shift[k];
      }
      return bind(out_name, x, true);
    }
    const int li = fusable_layer(x);
    if (li >= 0 && layers_[li].slope.empty() && layers_[li].desc.residual < 0) {
      Layer& l = layers_[li];
      const size_t per_out = l.weight.size() / l.desc.out_c;
      for (int o = 0; o < l.desc.out_c; ++o) {
        for (size_t j = 0; j < per_out; ++j) l.weight[o * per_out + j] = static_cast<float>(l.weight[o * per_out + j] * scale[o]);
        l.bias[o] = static_cast<float>(l.bias[o] * scale[o] + shift[o]);
      }
      return bind(out_name, x, true);
    }
    Layer l = identity_layer(x);
    for (int o = 0; o < l.desc.out_c; ++o) {
      l.weight[o] = static_cast<float>(scale[o]);
      l.bias[o] = static_cast<float>(shift[o]);
    }
    return add_layer(std::move(l), out_name, x.flat);
  }

  Status apply_slope(Value x, std::vector<float> slope, const std::string& out_name) {
    const int li = fusable_layer(x);
    if (li >= 0 && layers_[li].slope.empty()) {
      // With a residual already fused this is act(conv + residual).
      layers_[li].slope = std::move(slope);
      return bind(out_name, x, true);
    }
    Layer l = identity_layer(x);
    l.slope = std::move(slope);
    return add_layer(std::move(l), out_name, x.flat);
  }

  // ---- ops ----------------------------------------------------------------
  Status lower_node(const OnnxNode& node) {
    if (!node.domain.empty() && node.domain != "ai.onnx") {
      return Status(Code::model_unsupported,
                    "unsupported op '" + node.domain + "." + node.op_type + "' in node '" + node_name_ + "'");
    }
    const std::string& op = node.op_type;
    static const char* const kSupported[] = {"Conv", "BatchNormalization", "PRelu", "Relu", "Add", "Sub", "Mul",
                                             "Div", "Gemm", "MatMul", "GlobalAveragePool", "Flatten", "Reshape",
                                             "Identity", "Dropout", "Constant", "MaxPool", "Transpose",
                                             "ConstantOfShape", "Concat"};
    if (std::find(std::begin(kSupported), std::end(kSupported), op) == std::end(kSupported)) {
      return Status(Code::model_unsupported, "unsupported op '" + op + "' in node '" + node_name_ + "'");
    }
    if (node.outputs.empty() || node.outputs[0].empty()) return invalid("has no output");
    // Only the first output is ever produced (BatchNormalization's running
    // statistics and Dropout's mask are training outputs).
    for (size_t i = 1; i < node.outputs.size(); ++i) {
      if (uses(node.outputs[i]) > 0) return unsupported("output '" + node.outputs[i] + "' is used");
    }
    if (op == "Conv") return lower_conv(node);
    if (op == "BatchNormalization") return lower_batch_norm(node);
    if (op == "PRelu" || op == "Relu") return lower_activation(node);
    if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") return lower_binary(node);
    if (op == "Gemm" || op == "MatMul") return lower_gemm(node);
    if (op == "GlobalAveragePool") return lower_global_average_pool(node);
    if (op == "MaxPool") return lower_max_pool(node);
    if (op == "Transpose") return lower_transpose(node);
    if (op == "ConstantOfShape") return lower_constant_of_shape(node);
    if (op == "Concat") return lower_concat(node);
    if (op == "Identity" || op == "Dropout") {
      Value x;
      MFN_RETURN_IF_ERROR(input_value(node, 0, &x));
      return bind(node.outputs[0], x, true);
    }
    if (op == "Constant") {
      const OnnxAttribute* value = node.attribute("value");
      if (!value || !value->has_tensor) return unsupported("Constant without a 'value' tensor");
      Value v;
      v.kind = Value::kConstant;
      v.constant = &value->t;
      return bind(node.outputs[0], v, false);
    }
    return lower_flatten(node);  // Flatten or Reshape
  }

  Status ints_attr(const OnnxNode& node, const char* name, size_t count, int64_t fallback,
                   std::vector<int64_t>* out) const {
    const OnnxAttribute* a = node.attribute(name);
    if (!a) {
      out->assign(count, fallback);
      return Status::ok();
    }
    if (a->ints.size() != count) {
      return unsupported(std::string("attribute '") + name + "' has " + std::to_string(a->ints.size()) +
                         " values, expected " + std::to_string(count));
    }
    *out = a->ints;
    return Status::ok();
  }

  // Strides, dilations and padding (pads or auto_pad) of a Conv or MaxPool
  // whose kernel size is already in `l`; sets the output size and checks
  // it is neither empty nor too large.
  Status window(const OnnxNode& node, const mfn_tensor_desc& in, mfn_conv_layer* l) const {
    std::vector<int64_t> strides, dilations, pads;
    MFN_RETURN_IF_ERROR(ints_attr(node, "strides", 2, 1, &strides));
    MFN_RETURN_IF_ERROR(ints_attr(node, "dilations", 2, 1, &dilations));
    MFN_RETURN_IF_ERROR(ints_attr(node, "pads", 4, 0, &pads));
    for (int k = 0; k < 2; ++k) {
      if (strides[k] < 1 || strides[k] > kMaxDim || dilations[k] < 1 || dilations[k] > kMaxDim) {
        return invalid("strides " + dims_string(strides) + " / dilations " + dims_string(dilations));
      }
    }
    for (int64_t p : pads) {
      if (p < 0 || p > kMaxDim) return invalid("pads " + dims_string(pads));
    }
    const int64_t size[2] = {in.h, in.w};
    const int64_t ksize[2] = {l->kernel_h, l->kernel_w};
    const OnnxAttribute* auto_pad = node.attribute("auto_pad");
    const std::string mode = auto_pad ? auto_pad->s : "NOTSET";
    int64_t out_size[2];
    for (int k = 0; k < 2; ++k) {
      const int64_t span = dilations[k] * (ksize[k] - 1) + 1;
      if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
        out_size[k] = (size[k] + strides[k] - 1) / strides[k];
        const int64_t total = std::max<int64_t>(0, (out_size[k] - 1) * strides[k] + span - size[k]);
        const int64_t small = total / 2;
        pads[k] = mode == "SAME_UPPER" ? small : total - small;  // begin
        pads[k + 2] = total - pads[k];                           // end
      } else if (mode == "VALID" || mode == "NOTSET" || mode.empty()) {
        if (mode == "VALID") pads[k] = pads[k + 2] = 0;
        const int64_t padded = size[k] + pads[k] + pads[k + 2];
        out_size[k] = padded < span ? 0 : (padded - span) / strides[k] + 1;
      } else {
        return unsupported("auto_pad '" + mode + "'");
      }
      if (out_size[k] < 1) return invalid(node.op_type + " output would be empty");
    }
    if (out_size[0] * out_size[1] > kMaxTensor || l->out_c * out_size[0] * out_size[1] > kMaxTensor) {
      return unsupported(node.op_type + " output is too large");
    }
    l->out_h = static_cast<int32_t>(out_size[0]);
    l->out_w = static_cast<int32_t>(out_size[1]);
    l->stride_h = static_cast<int32_t>(strides[0]);
    l->stride_w = static_cast<int32_t>(strides[1]);
    l->dilation_h = static_cast<int32_t>(dilations[0]);
    l->dilation_w = static_cast<int32_t>(dilations[1]);
    l->pad_top = static_cast<int32_t>(pads[0]);
    l->pad_left = static_cast<int32_t>(pads[1]);
    l->pad_bottom = static_cast<int32_t>(pads[2]);
    l->pad_right = static_cast<int32_t>(pads[3]);
    return Status::ok();
  }

  Status lower_conv(const OnnxNode& node) {
    Value x;
    MFN_RETURN_IF_ERROR(activation(node, 0, &x));
    if (x.flat) return unsupported("Conv on a flattened tensor");
    const OnnxTensor* w = nullptr;
    MFN_RETURN_IF_ERROR(float_constant(node, 1, &w));
    if (w->dims.size() != 4) return unsupported("Conv weight of shape " + dims_string(w->dims) + " (only 2-D convolutions)");
    const mfn_tensor_desc in = desc(x);
    const int64_t out_c = w->dims[0], kh = w->dims[2], kw = w->dims[3];
    const OnnxAttribute* group_attr = node.attribute("group");
    const int64_t group = group_attr ? group_attr->i : 1;
    for (int64_t d : w->dims) {
      if (d < 1 || d > kMaxDim) return invalid("Conv weight of shape " + dims_string(w->dims));
    }
    if (group < 1 || group > kMaxDim || out_c % group != 0 || w->dims[1] * group != in.c) {
      return invalid("Conv weight " + dims_string(w->dims) + " with group " + std::to_string(group) +
                     " does not fit an input of " + std::to_string(in.c) + " channels");
    }
    if (w->dims[1] * kh * kw > kMaxKernelFloats) {
      return unsupported("Conv weight " + dims_string(w->dims) + " has more than " + std::to_string(kMaxKernelFloats) +
                         " values per output");
    }
    std::vector<int64_t> kernel;
    MFN_RETURN_IF_ERROR(ints_attr(node, "kernel_shape", 2, 0, &kernel));
    if (node.attribute("kernel_shape") && (kernel[0] != kh || kernel[1] != kw)) {
      return invalid("kernel_shape " + dims_string(kernel) + " does not match the weight " + dims_string(w->dims));
    }
    Layer l;
    set_geometry(&l.desc, in, out_c, 1, 1, kh, kw, group);
    l.desc.input = x.tensor;
    MFN_RETURN_IF_ERROR(window(node, in, &l.desc));
    l.weight = w->floats;
    l.bias.assign(out_c, 0.0f);
    if (node.inputs.size() > 2 && !node.inputs[2].empty()) {
      const OnnxTensor* b = nullptr;
      MFN_RETURN_IF_ERROR(float_constant(node, 2, &b));
      if (b->dims.size() != 1 || b->floats.size() != static_cast<size_t>(out_c)) {
        return invalid("Conv bias of shape " + dims_string(b->dims) + " for " + std::to_string(out_c) + " outputs");
      }
      l.bias = b->floats;
    }
    return add_layer(std::move(l), node.outputs[0], false);
  }

  Status lower_batch_norm(const OnnxNode& node) {
    Value x;
    MFN_RETURN_IF_ERROR(input_value(node, 0, &x));
    if (x.kind == Value::kConstant) return unsupported("BatchNormalization of a constant");
    int c = 0;
    MFN_RETURN_IF_ERROR(channels(x, &c));
    // Inference semantics only; opset < 9 spatial=0 takes per-element
    // parameters.
    const OnnxAttribute* training = node.attribute("training_mode");
    if (training && training->i != 0) return unsupported("BatchNormalization with training_mode");
    const OnnxAttribute* spatial = node.attribute("spatial");
    if (spatial && spatial->i == 0) return unsupported("BatchNormalization with spatial=0");
    std::vector<double> params[4];  // scale, B, mean, var
    for (int i = 0; i < 4; ++i) {
      const OnnxTensor* t = nullptr;
      MFN_RETURN_IF_ERROR(float_constant(node, 1 + i, &t));
      if (t->dims.size() != 1 || t->floats.size() != static_cast<size_t>(c)) {
        return invalid("BatchNormalization parameter '" + t->name + "' of shape " + dims_string(t->dims) + " for " +
                       std::to_string(c) + " channels");
      }
      params[i].assign(t->floats.begin(), t->floats.end());
    }
    const OnnxAttribute* eps_attr = node.attribute("epsilon");
    const double eps = eps_attr ? eps_attr->f : 1e-5;
    std::vector<double> scale(c), shift(c);
    for (int k = 0; k < c; ++k) {
      const double var = params[3][k] + eps;
      if (!(var > 0)) return invalid("BatchNormalization variance + epsilon is not positive");
      scale[k] = params[0][k] / std::sqrt(var);
      shift[k] = params[1][k] - params[2][k] * scale[k];
    }
    return apply_affine(x, scale, shift, node.outputs[0]);
  }

  Status lower_activation(const OnnxNode& node) {
    Value x;
    MFN_RETURN_IF_ERROR(activation(node, 0, &x));
    int c = 0;
    MFN_RETURN_IF_ERROR(channels(x, &c));
    std::vector<float> slope(c, 0.0f);
    if (node.op_type == "PRelu") {
      const OnnxTensor* t = nullptr;
      MFN_RETURN_IF_ERROR(float_constant(node, 1, &t));
      std::vector<double> s;
      MFN_RETURN_IF_ERROR(channel_vector(*t, c, x.flat, &s));
      slope.assign(s.begin(), s.end());
    }
    return apply_slope(x, std::move(slope), node.outputs[0]);
  }

  // Add/Sub/Mul/Div: with a constant operand, a per-channel affine; Add of
  // two activations, a residual.
  Status lower_binary(const OnnxNode& node) {
    const std::string& op = node.op_type;
    Value a, b;
    MFN_RETURN_IF_ERROR(input_value(node, 0, &a));
    MFN_RETURN_IF_ERROR(input_value(node, 1, &b));
    if (a.kind == Value::kConstant && b.kind == Value::kConstant) {
      return unsupported(op + " of two constants (fold constants before loading)");
    }
    if (a.kind != Value::kConstant && b.kind != Value::kConstant) {
      if (op != "Add") return unsupported(op + " of two activations");
      return lower_residual(node, a, b);
    }
    const bool constant_first = a.kind == Value::kConstant;
    const Value& x = constant_first ? b : a;
    const OnnxTensor* k = nullptr;
    MFN_RETURN_IF_ERROR(float_constant(node, constant_first ? 0 : 1, &k));
    int c = 0;
    MFN_RETURN_IF_ERROR(channels(x, &c));
    std::vector<double> v;
    MFN_RETURN_IF_ERROR(channel_vector(*k, c, x.flat, &v));
    std::vector<double> scale(c, 1.0), shift(c, 0.0);
    for (int i = 0; i < c; ++i) {
      if (op == "Add") {
        shift[i] = v[i];
      } else if (op == "Sub") {
        if (constant_first) scale[i] = -1.0;  // k - x
        shift[i] = constant_first ? v[i] : -v[i];
      } else if (op == "Mul") {
        scale[i] = v[i];
      } else {
        if (constant_first) return unsupported("Div of a constant by an activation");
        if (v[i] == 0) return invalid("Div by zero");
        scale[i] = 1.0 / v[i];
      }
    }
    return apply_affine(x, scale, shift, node.outputs[0]);
  }

  Status lower_residual(const OnnxNode& node, Value a, Value b) {
    MFN_RETURN_IF_ERROR(materialize(&a));
    MFN_RETURN_IF_ERROR(materialize(&b));
    const mfn_tensor_desc &da = desc(a), &db = desc(b);
    // [N,F] + [N,C,H,W] broadcasts to a 4-D tensor of another shape.
    if (a.flat != b.flat) return unsupported("Add of a flattened and a 4-D tensor");
    if (da.c != db.c || da.h != db.h || da.w != db.w) {
      return unsupported("Add of tensors of different shapes (" + std::to_string(da.c) + "x" + std::to_string(da.h) +
                         "x" + std::to_string(da.w) + " and " + std::to_string(db.c) + "x" + std::to_string(db.h) +
                         "x" + std::to_string(db.w) + ")");
    }
    // Fuse into the later producer; the other operand must already exist
    // when that layer runs.
    Value order[2] = {a, b};
    if (producer_[b.tensor] > producer_[a.tensor]) std::swap(order[0], order[1]);
    for (int i = 0; i < 2; ++i) {
      const Value& target = order[i];
      const Value& other = order[1 - i];
      const int li = fusable_layer(target);
      if (li < 0 || target.tensor == other.tensor || layers_[li].desc.residual >= 0 || producer_[other.tensor] >= li) {
        continue;
      }
      Layer& l = layers_[li];
      l.desc.residual = other.tensor;
      l.desc.residual_after_act = l.slope.empty() ? 0 : 1;
      return bind(node.outputs[0], target, true);
    }
    Layer l = identity_layer(a);
    l.desc.residual = b.tensor;
    return add_layer(std::move(l), node.outputs[0], a.flat);
  }

  // Gemm / MatMul with a constant weight: a convolution whose kernel covers
  // the whole input, since ONNX flattens C,H,W in exactly OIHW order.
  Status lower_gemm(const OnnxNode& node) {
    const bool gemm = node.op_type == "Gemm";
    Value x;
    MFN_RETURN_IF_ERROR(activation(node, 0, &x));
    if (!gemm && !x.flat) return unsupported("MatMul on a 4-D tensor (only after Flatten/Reshape)");
    const OnnxTensor* w = nullptr;
    MFN_RETURN_IF_ERROR(float_constant(node, 1, &w));
    const OnnxAttribute* a_alpha = node.attribute("alpha");
    const OnnxAttribute* a_beta = node.attribute("beta");
    const OnnxAttribute* a_trans_a = node.attribute("transA");
    const OnnxAttribute* a_trans_b = node.attribute("transB");
    const double alpha = gemm && a_alpha ? a_alpha->f : 1.0;
    const double beta = gemm && a_beta ? a_beta->f : 1.0;
    const bool trans_b = gemm && a_trans_b && a_trans_b->i != 0;
    if (gemm && a_trans_a && a_trans_a->i != 0) return unsupported("Gemm with transA");
    if (w->dims.size() != 2) return unsupported(node.op_type + " weight of shape " + dims_string(w->dims));
    const mfn_tensor_desc in = desc(x);
    const int64_t features = static_cast<int64_t>(in.c) * in.h * in.w;
    const int64_t k_dim = trans_b ? w->dims[1] : w->dims[0];
    const int64_t n_dim = trans_b ? w->dims[0] : w->dims[1];
    if (k_dim != features || n_dim < 1 || n_dim > kMaxDim) {
      return invalid(node.op_type + " weight of shape " + dims_string(w->dims) + " for " + std::to_string(features) +
                     " input features");
    }
    Layer l;
    set_geometry(&l.desc, in, n_dim, 1, 1, in.h, in.w, 1);
    l.desc.input = x.tensor;
    l.weight.resize(static_cast<size_t>(n_dim * features));
    for (int64_t n = 0; n < n_dim; ++n) {
      for (int64_t k = 0; k < features; ++k) {
        const float v = trans_b ? w->floats[n * features + k] : w->floats[k * n_dim + n];
        l.weight[n * features + k] = static_cast<float>(alpha * v);
      }
    }
    l.bias.assign(n_dim, 0.0f);
    if (gemm && node.inputs.size() > 2 && !node.inputs[2].empty()) {
      const OnnxTensor* c = nullptr;
      MFN_RETURN_IF_ERROR(float_constant(node, 2, &c));
      // Unidirectional broadcast to [batch, N]: the batch axis must be 1.
      const size_t count = c->floats.size();
      const std::vector<int64_t>& cd = c->dims;
      const bool fits = cd.size() <= 2 && (cd.size() < 2 || cd[0] == 1) &&
                        (cd.empty() || cd.back() == 1 || cd.back() == n_dim) &&
                        count == static_cast<size_t>(cd.empty() ? 1 : cd.back());
      if (!fits) {
        return unsupported("Gemm bias of shape " + dims_string(c->dims) + " (only a scalar, [N] or [1,N])");
      }
      for (int64_t n = 0; n < n_dim; ++n) l.bias[n] = static_cast<float>(beta * c->floats[count == 1 ? 0 : n]);
    }
    return add_layer(std::move(l), node.outputs[0], true);
  }

  Status lower_global_average_pool(const OnnxNode& node) {
    Value x;
    MFN_RETURN_IF_ERROR(activation(node, 0, &x));
    if (x.flat) return unsupported("GlobalAveragePool on a flattened tensor");
    const mfn_tensor_desc in = desc(x);
    Layer l;
    set_geometry(&l.desc, in, in.c, 1, 1, in.h, in.w, in.c);
    l.desc.input = x.tensor;
    l.weight.assign(static_cast<size_t>(in.c) * in.h * in.w, 1.0f / (static_cast<float>(in.h) * in.w));
    l.bias.assign(in.c, 0.0f);
    return add_layer(std::move(l), node.outputs[0], false);
  }

  // Flatten(axis 1) and Reshape to [N, C*H*W]: the same tensor, viewed flat.
  Status lower_flatten(const OnnxNode& node) {
    Value x;
    MFN_RETURN_IF_ERROR(input_value(node, 0, &x));
    if (x.kind == Value::kActivation && x.nhwc) return lower_nhwc_reshape(node, x);
    MFN_RETURN_IF_ERROR(activation(node, 0, &x));
    const mfn_tensor_desc in = desc(x);
    const int64_t features = static_cast<int64_t>(in.c) * in.h * in.w;
    if (node.op_type == "Flatten") {
      const OnnxAttribute* axis = node.attribute("axis");
      if (axis && axis->i != 1) return unsupported("Flatten with axis " + std::to_string(axis->i) + " (only 1)");
    } else {
      const OnnxTensor* shape = nullptr;
      MFN_RETURN_IF_ERROR(constant(node, 1, &shape));
      const std::vector<int64_t>& s = shape->ints;
      const bool ok = s.size() == 2 && (s[0] == -1 || s[0] == 0 || s[0] == 1) &&
                      (s[1] == features || (s[1] == -1 && s[0] != -1) || (s[1] == 0 && in.c == features));
      if (!ok) {
        return unsupported("Reshape to " + dims_string(s) + " (only [N, " + std::to_string(features) + "])");
      }
    }
    x.flat = true;
    return bind(node.outputs[0], x, true);
  }

  // MaxPool: a layer of its own (op MFN_OP_MAXPOOL). Padding never wins the
  // max, as in ONNX.
  Status lower_max_pool(const OnnxNode& node) {
    Value x;
    MFN_RETURN_IF_ERROR(activation(node, 0, &x));
    if (x.flat) return unsupported("MaxPool on a flattened tensor");
    if (node.outputs.size() > 1 && uses(node.outputs[1]) > 0) return unsupported("MaxPool indices output is used");
    const OnnxAttribute* ceil = node.attribute("ceil_mode");
    if (ceil && ceil->i != 0) return unsupported("MaxPool with ceil_mode 1");
    const OnnxAttribute* order = node.attribute("storage_order");
    if (order && order->i != 0) return unsupported("MaxPool with storage_order 1");
    std::vector<int64_t> kernel;
    MFN_RETURN_IF_ERROR(ints_attr(node, "kernel_shape", 2, 0, &kernel));
    if (!node.attribute("kernel_shape")) return invalid("MaxPool without kernel_shape");
    for (int64_t k : kernel) {
      if (k < 1 || k > 4096) return invalid("MaxPool kernel_shape " + dims_string(kernel));
    }
    const mfn_tensor_desc in = desc(x);
    Layer l;
    set_geometry(&l.desc, in, in.c, 1, 1, kernel[0], kernel[1], in.c);
    l.desc.op = MFN_OP_MAXPOOL;
    l.desc.input = x.tensor;
    MFN_RETURN_IF_ERROR(window(node, in, &l.desc));
    if (l.desc.pad_top >= l.desc.kernel_h || l.desc.pad_bottom >= l.desc.kernel_h || l.desc.pad_left >= l.desc.kernel_w ||
        l.desc.pad_right >= l.desc.kernel_w || l.desc.dilation_h != 1 || l.desc.dilation_w != 1) {
      return unsupported("MaxPool with dilations or with pads not below the kernel size");
    }
    return add_layer(std::move(l), node.outputs[0], false);
  }

  // Transpose: NHWC -> NCHW of the graph input when the manifest says the
  // input is NHWC (the engine feeds it in its own layout), and NCHW -> NHWC
  // of an activation on its way to a graph output (a view: the CPU backend
  // keeps activations NHWC, so its raw outputs already have that order).
  Status lower_transpose(const OnnxNode& node) {
    Value x;
    MFN_RETURN_IF_ERROR(input_value(node, 0, &x));
    const OnnxAttribute* perm_attr = node.attribute("perm");
    const std::vector<int64_t> perm = perm_attr ? perm_attr->ints : std::vector<int64_t>{};
    const std::vector<int64_t> to_nchw{0, 3, 1, 2}, to_nhwc{0, 2, 3, 1};
    if (x.kind == Value::kInput && x.nhwc && perm == to_nchw) {
      x.nhwc = false;
      return bind(node.outputs[0], x, true);
    }
    if (x.kind == Value::kActivation && !x.flat && !x.nhwc && perm == to_nhwc) {
      x.nhwc = true;
      return bind(node.outputs[0], x, true);
    }
    return unsupported("Transpose with perm " + dims_string(perm) +
                       " (only NHWC -> NCHW of an NHWC graph input, and NCHW -> NHWC before a graph output)");
  }

  // Reshape of an NHWC view to [N, H*W*C/K, K]: still the same values in
  // the same order, so still a view.
  Status lower_nhwc_reshape(const OnnxNode& node, Value x) {
    const OnnxTensor* shape = nullptr;
    MFN_RETURN_IF_ERROR(constant(node, 1, &shape));
    const std::vector<int64_t>& s = shape->ints;
    const mfn_tensor_desc& d = desc(x);
    const int64_t total = static_cast<int64_t>(d.c) * d.h * d.w;
    const bool ok = s.size() == 3 && (s[0] == 1 || s[0] == -1 || s[0] == 0) && s[2] >= 1 && total % s[2] == 0 &&
                    (s[1] == -1 || s[1] == total / s[2]) && !(s[0] == -1 && s[1] == -1);
    if (!ok) return unsupported("Reshape of an NHWC tensor to " + dims_string(s) + " (only [N, -1, K])");
    return bind(node.outputs[0], x, true);
  }

  // ConstantOfShape with value 0: remembered by shape, consumed by Concat.
  Status lower_constant_of_shape(const OnnxNode& node) {
    const OnnxTensor* shape = nullptr;
    MFN_RETURN_IF_ERROR(constant(node, 0, &shape));
    const OnnxAttribute* value = node.attribute("value");
    if (value && value->has_tensor) {
      const OnnxTensor& t = value->t;
      const bool zero = (t.floats.size() == 1 && t.floats[0] == 0) || (t.ints.size() == 1 && t.ints[0] == 0);
      if (!zero) return unsupported("ConstantOfShape with a value other than 0");
    }
    Value v;
    v.kind = Value::kZeros;
    v.zeros_dims = shape->ints;
    return bind(node.outputs[0], v, false);
  }

  // Concat along channels of one activation and zero tensors (channel
  // padding): a 1x1 convolution with identity weights, which is exact.
  Status lower_concat(const OnnxNode& node) {
    const OnnxAttribute* axis = node.attribute("axis");
    if (!axis || (axis->i != 1 && axis->i != -3)) return unsupported("Concat other than along channels (axis 1)");
    Value x;
    int source = -1;
    int64_t before = 0, after = 0;
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      Value v;
      MFN_RETURN_IF_ERROR(input_value(node, i, &v));
      if (v.kind == Value::kZeros) continue;
      if (source >= 0) return unsupported("Concat of two activations");
      MFN_RETURN_IF_ERROR(activation(node, i, &x));
      if (x.flat) return unsupported("Concat of a flattened tensor");
      source = static_cast<int>(i);
    }
    if (source < 0) return unsupported("Concat of constants only");
    const mfn_tensor_desc in = desc(x);
    for (size_t i = 0; i < node.inputs.size(); ++i) {
      if (static_cast<int>(i) == source) continue;
      const std::vector<int64_t>& z = values_.at(node.inputs[i]).zeros_dims;
      if (z.size() != 4 || z[1] < 1 || z[1] > kMaxDim || z[2] != in.h || z[3] != in.w) {
        return invalid("Concat of zeros of shape " + dims_string(z) + " with a " + std::to_string(in.c) + "x" +
                       std::to_string(in.h) + "x" + std::to_string(in.w) + " tensor");
      }
      (static_cast<int>(i) < source ? before : after) += z[1];
    }
    const int64_t out_c = before + in.c + after;
    if (out_c * in.h * in.w > kMaxTensor) return unsupported("Concat output is too large");
    Layer l;
    set_geometry(&l.desc, in, out_c, in.h, in.w, 1, 1, 1);
    l.desc.input = x.tensor;
    l.weight.assign(static_cast<size_t>(out_c * in.c), 0.0f);
    for (int c = 0; c < in.c; ++c) l.weight[static_cast<size_t>((before + c) * in.c + c)] = 1.0f;
    l.bias.assign(out_c, 0.0f);
    return add_layer(std::move(l), node.outputs[0], false);
  }

  // ---- graph boundary -----------------------------------------------------
  Status bind_graph_inputs() {
    if (manifest_.height < 1 || manifest_.width < 1 || manifest_.height > kMaxDim || manifest_.width > kMaxDim) {
      return Status(Code::model_invalid, "manifest height/width must be positive");
    }
    for (const OnnxNode& node : graph_.nodes) {
      for (const std::string& name : node.inputs) {
        if (!name.empty()) ++uses_[name];
      }
    }
    for (const OnnxValueInfo& o : graph_.outputs) ++uses_[o.name];
    for (const OnnxTensor& t : graph_.initializers) {
      Value v;
      v.kind = Value::kConstant;
      v.constant = &t;
      if (!values_.emplace(t.name, v).second) {
        return Status(Code::model_invalid, "initializer '" + t.name + "' appears twice");
      }
    }
    if (3 * static_cast<int64_t>(manifest_.height) * manifest_.width > kMaxTensor) {
      return Status(Code::model_unsupported, "model input is too large");
    }
    new_tensor(3, manifest_.height, manifest_.width, -1);
    bool found = false;
    for (const OnnxValueInfo& in : graph_.inputs) {
      if (values_.count(in.name) && values_.at(in.name).kind == Value::kConstant) continue;  // IR < 4 lists initializers
      if (in.name != manifest_.input_name) {
        return Status(Code::model_unsupported, "graph input '" + in.name + "' is not the manifest's input '" +
                                                   manifest_.input_name + "' (one input only)");
      }
      std::vector<int64_t> d = in.dims;
      if (d.size() == 4 && manifest_.layout == "NHWC") d = {d[0], d[3], d[1], d[2]};
      if (!d.empty() && d.size() != 4) {
        return Status(Code::model_unsupported, "graph input '" + in.name + "' has shape " + dims_string(d) +
                                                   " (only N x C x H x W)");
      }
      if (d.size() == 4 && d[1] > 0 && d[1] != 3) {
        return Status(Code::model_unsupported, "graph input '" + in.name + "' has " + std::to_string(d[1]) +
                                                   " channels (only 3)");
      }
      if (d.size() == 4 && ((d[2] > 0 && d[2] != manifest_.height) || (d[3] > 0 && d[3] != manifest_.width))) {
        return Status(Code::model_invalid, "graph input '" + in.name + "' is " + dims_string(d) + " but the manifest says " +
                                               std::to_string(manifest_.height) + "x" + std::to_string(manifest_.width));
      }
      Value v;
      v.kind = Value::kInput;
      v.nhwc = manifest_.layout == "NHWC";  // usable once a Transpose makes it NCHW
      values_[in.name] = v;
      found = true;
    }
    if (!found) {
      return Status(Code::model_invalid, "graph has no input named '" + manifest_.input_name + "'");
    }
    return Status::ok();
  }

  // A detector's outputs: each an activation (NHWC view or not: a raw
  // output is always returned NHWC, which is what a Transpose to NHWC asks
  // for and the same as NCHW for a c x 1 x 1 tensor).
  Status detector_outputs() {
    for (const std::string& name : manifest_.output_names) {
      bool listed = false;
      for (const OnnxValueInfo& o : graph_.outputs) listed = listed || o.name == name;
      auto it = values_.find(name);
      if (!listed || it == values_.end()) return Status(Code::model_invalid, "graph has no output named '" + name + "'");
      const Value& v = it->second;
      if (v.kind != Value::kActivation || v.tensor == 0 || v.flat) {
        return Status(Code::model_unsupported, "graph output '" + name + "' is not computed by a layer");
      }
      const mfn_tensor_desc& d = desc(v);
      if (!v.nhwc && d.h * d.w != 1 && d.c != 1) {
        return Status(Code::model_unsupported, "graph output '" + name + "' is NCHW; only NHWC raw outputs are supported");
      }
      outputs_.push_back(v.tensor);
    }
    return Status::ok();
  }

  Status finish() {
    const bool detector = manifest_.kind == "detector";
    if (detector) MFN_RETURN_IF_ERROR(detector_outputs());
    bool listed = false;
    for (const OnnxValueInfo& o : graph_.outputs) listed = listed || o.name == manifest_.output_name;
    if (!listed) return Status(Code::model_invalid, "graph has no output named '" + manifest_.output_name + "'");
    auto it = values_.find(manifest_.output_name);
    if (it == values_.end()) {
      return Status(Code::model_invalid, "graph output '" + manifest_.output_name + "' is not produced by any node");
    }
    const Value& v = it->second;
    if (v.kind != Value::kActivation || v.tensor == 0) {
      return Status(Code::model_unsupported, "graph output '" + manifest_.output_name + "' is not computed by a layer");
    }
    const mfn_tensor_desc& d = desc(v);
    if (!detector && (d.h != 1 || d.w != 1)) {
      return Status(Code::model_unsupported, "graph output is " + std::to_string(d.c) + "x" + std::to_string(d.h) + "x" +
                                                 std::to_string(d.w) + ", not an embedding vector");
    }
    if (!detector && manifest_.embedding_size != d.c) {
      return Status(Code::model_invalid, "manifest embeddingSize " + std::to_string(manifest_.embedding_size) +
                                             " but the graph outputs " + std::to_string(d.c) + " values");
    }

    // Arithmetic that must overflow is refused here rather than showing up
    // as NaN embeddings: every folded parameter, and the input affine
    // (manifest mean/std with the graph's own), must be finite floats.
    for (const Layer& l : layers_) {
      if (!all_finite(l.weight) || !all_finite(l.bias) || !all_finite(l.slope)) {
        return Status(Code::model_invalid, "node '" + l.name + "': a weight, bias or slope is not a finite float" +
                                               " (after folding BatchNormalization and constant ops)");
      }
    }
    float scale[3], bias[3];
    const bool bgr = manifest_.channel_order == "BGR";
    for (int k = 0; k < 3; ++k) {
      // Model channel k is (pixel - mean) / std, then the graph's own affine.
      const double std_k = manifest_.std[k];
      scale[k] = static_cast<float>(input_scale_[k] / std_k);
      bias[k] = static_cast<float>(-manifest_.mean[k] / std_k * input_scale_[k] + input_bias_[k]);
      if (!std::isfinite(scale[k]) || !std::isfinite(bias[k]) || scale[k] == 0) {
        return Status(Code::model_invalid, "the input normalisation (manifest mean/std and the graph's constant ops) "
                                           "overflows or vanishes in float");
      }
    }

    Model& m = *out_;
    m.manifest = manifest_;
    m.layers.clear();
    m.layer_names.clear();
    m.storage.clear();
    m.storage.reserve(layers_.size() * 3);
    for (Layer& l : layers_) {
      // Reserved above, so these vectors never move once pointed to.
      m.storage.push_back(std::move(l.weight));
      l.desc.weight = m.storage.back().data();
      m.storage.push_back(std::move(l.bias));
      l.desc.bias = m.storage.back().data();
      l.desc.slope = nullptr;
      if (!l.slope.empty()) {
        m.storage.push_back(std::move(l.slope));
        l.desc.slope = m.storage.back().data();
      }
      if (l.desc.op != MFN_OP_CONV) l.desc.weight = l.desc.bias = nullptr;
      m.layers.push_back(l.desc);
      m.layer_names.push_back(l.name);
    }

    mfn_plan& p = m.plan;
    p = mfn_plan{};
    p.num_tensors = static_cast<int32_t>(m.tensors.size());
    p.tensors = m.tensors.data();
    p.num_layers = static_cast<int32_t>(m.layers.size());
    p.layers = m.layers.data();
    p.output = v.tensor;
    p.embedding_size = detector ? 0 : d.c;
    m.outputs = outputs_;
    p.num_outputs = static_cast<int32_t>(m.outputs.size());
    p.outputs = m.outputs.empty() ? nullptr : m.outputs.data();
    for (int k = 0; k < 3; ++k) {
      p.channel_src[k] = bgr ? 2 - k : k;
      p.input_scale[k] = scale[k];
      p.input_bias[k] = bias[k];
    }
    return Status::ok();
  }

  const OnnxGraph& graph_;
  const Manifest& manifest_;
  Model* out_;
  std::string node_name_;
  std::map<std::string, Value> values_;
  std::map<std::string, int> uses_;
  std::vector<int> producer_;  // per tensor: index of its layer, -1 for the input
  std::vector<int> readers_;   // per tensor: nodes that read it as an operand (not aliases)
  std::vector<Layer> layers_;
  size_t weight_floats_ = 0;
  int64_t activation_floats_ = 0;
  std::vector<int32_t> outputs_;  // a detector's raw outputs, manifest order
  bool input_bound_ = false;
  double input_scale_[3] = {1, 1, 1};
  double input_bias_[3] = {0, 0, 0};
};

}  // namespace

Status lower_model(const OnnxModel& onnx, const Manifest& manifest, Model* out) {
  out->tensors.clear();
  out->layers.clear();
  out->layer_names.clear();
  out->storage.clear();
  out->outputs.clear();
  out->plan = mfn_plan{};
  Status s = Lowerer(onnx, manifest, out).run();
  if (!s.is_ok()) {
    out->tensors.clear();
    out->layers.clear();
    out->layer_names.clear();
    out->storage.clear();
    out->outputs.clear();
    out->plan = mfn_plan{};
  }
  return s;
}

Status load_model(const std::string& onnx_path, const std::string& manifest_path, Model* out) {
  Manifest manifest;
  MFN_RETURN_IF_ERROR(read_manifest(manifest_path, &manifest));
  std::vector<uint8_t> bytes;
  MFN_RETURN_IF_ERROR(read_regular_file(onnx_path, "model file", kMaxModelFileBytes, &bytes));
  if (!manifest.sha256.empty()) {
    const std::string actual = sha256_hex(bytes.data(), bytes.size());
    if (actual != manifest.sha256) {
      return Status(Code::model_invalid, "model file '" + onnx_path + "' has sha256 " + actual + " but its manifest '" +
                                             manifest_path + "' says " + manifest.sha256);
    }
  }
  OnnxModel onnx;
  Status read = read_onnx(bytes.data(), bytes.size(), &onnx);
  if (!read.is_ok()) return Status(read.code(), onnx_path + ": " + read.message());
  bytes = std::vector<uint8_t>();  // the decoded tensors hold their own copies
  return lower_model(onnx, manifest, out);
}

}  // namespace mfn
