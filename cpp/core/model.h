// Model: the lowered network (mfn_plan) plus the storage its pointers refer
// to. Built once by lower_model(); immutable afterwards and shared by every
// backend. Not movable: the plan points into the vectors.
#pragma once

#include <string>
#include <vector>

#include "core/manifest.h"
#include "core/onnx_reader.h"
#include "mfn/abi.h"
#include "mfn/status.h"

namespace mfn {

struct Model {
  Model() = default;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  Manifest manifest;
  std::vector<mfn_tensor_desc> tensors;
  std::vector<mfn_conv_layer> layers;
  std::vector<std::string> layer_names;     // ONNX node name of each layer's conv
  std::vector<std::vector<float>> storage;  // weights, biases, slopes
  std::vector<int32_t> outputs;             // plan.outputs (a detector's raw outputs)
  mfn_plan plan{};
};

// ONNX graph -> fused conv layers: BatchNormalization folded into the
// preceding Conv/Gemm, PRelu/Relu and residual Add fused into the conv,
// Flatten/Reshape/Identity/Dropout dropped, Gemm/MatMul and
// GlobalAveragePool turned into convolutions, constant Sub/Mul on the graph
// input folded into plan.input_scale/input_bias; for a detector manifest,
// MaxPool layers, channel zero-padding (ConstantOfShape + Concat, as a 1x1
// identity convolution), Transpose of an NHWC input and of raw outputs to
// NHWC, and raw outputs listed in plan.outputs. The batch dimension is
// taken as dynamic whatever the file says. An op outside the supported list
// -> MFN_MODEL_UNSUPPORTED naming the op and the node; an inconsistent graph
// -> MFN_MODEL_INVALID.
Status lower_model(const OnnxModel& onnx, const Manifest& manifest, Model* out);

// read_manifest, the model file read whole (read_regular_file) and checked
// against the manifest's sha256 when it gives one (mismatch ->
// MFN_MODEL_INVALID), read_onnx, lower_model. Paths must name regular files
// (see model_file.h).
Status load_model(const std::string& onnx_path, const std::string& manifest_path, Model* out);

}  // namespace mfn
