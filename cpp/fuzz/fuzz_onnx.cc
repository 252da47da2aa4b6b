// libFuzzer harness: ONNX bytes -> reader -> lowering -> CPU backend
// creation, and one embed when the plan is small enough to run quickly.
// The manifest is derived from the graph (its first input and output), so
// that mutated graphs reach the lowering and the backend rather than
// stopping at a name mismatch. Built only with MFN_FUZZ=ON (clang).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/model.h"
#include "core/onnx_reader.h"
#include "cpu/backend_cpu.h"
#include "mfn/backend.h"

namespace {

mfn::Manifest manifest_for(const mfn::OnnxGraph& graph) {
  mfn::Manifest m;
  m.file = "fuzz.onnx";
  m.layout = "NCHW";
  m.channel_order = "RGB";
  m.height = m.width = 8;
  m.input_name = graph.inputs.empty() ? "input" : graph.inputs[0].name;
  m.output_name = graph.outputs.empty() ? "output" : graph.outputs[0].name;
  if (!graph.inputs.empty() && graph.inputs[0].dims.size() == 4) {
    const int64_t h = graph.inputs[0].dims[2], w = graph.inputs[0].dims[3];
    if (h > 0 && h <= 64) m.height = static_cast<int>(h);
    if (w > 0 && w <= 64) m.width = static_cast<int>(w);
  }
  m.embedding_size = 1;
  if (!graph.outputs.empty() && graph.outputs[0].dims.size() >= 2 && graph.outputs[0].dims[1] > 0 &&
      graph.outputs[0].dims[1] <= (1 << 20)) {
    m.embedding_size = static_cast<int>(graph.outputs[0].dims[1]);
  }
  return m;
}

// Multiply-accumulates of one pass: plans beyond a few million are only
// created, not run, to keep executions fast.
double plan_macs(const mfn_plan& plan) {
  double macs = 0;
  for (int i = 0; i < plan.num_layers; ++i) {
    const mfn_conv_layer& l = plan.layers[i];
    macs += static_cast<double>(l.out_c) * l.out_h * l.out_w * (l.in_c / l.group) * l.kernel_h * l.kernel_w;
  }
  return macs;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mfn::OnnxModel onnx;
  if (!mfn::read_onnx(data, size, &onnx).is_ok()) return 0;
  mfn::Model model;
  if (!mfn::lower_model(onnx, manifest_for(onnx.graph), &model).is_ok()) return 0;
  mfn_backend_config config{};
  config.max_batch = 1;
  config.threads = 1;
  mfn::Status status;
  std::unique_ptr<mfn::Backend> backend = mfn::make_cpu_backend(model.plan, config, &status);
  if (!backend || plan_macs(model.plan) > 4e6) return 0;
  const mfn_tensor_desc& in = model.plan.tensors[0];
  std::vector<uint8_t> pixels(static_cast<size_t>(in.w) * in.h * 3, 0);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 37);
  mfn_image image{};
  image.data = pixels.data();
  image.width = in.w;
  image.height = in.h;
  image.channels = 3;
  image.row_stride = static_cast<size_t>(in.w) * 3;
  image.transform[0] = image.transform[4] = 1;  // identity sampling
  std::vector<float> out(static_cast<size_t>(model.plan.embedding_size));
  backend->embed(&image, 1, true, out.data());
  return 0;
}
