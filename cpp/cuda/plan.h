// The device plan: turns the engine's lowered network (mfn_plan) into what
// the CUDA backend runs. Host-only and CUDA-free: it validates the plan,
// picks one kernel per layer, packs the weights into the layouts those
// kernels read (FP16 blob + FP32 blob, offsets 16-byte aligned), and assigns
// every activation tensor to a reusable buffer by liveness (the tensors a
// run returns stay live to its end). Runs once, on
// the thread that creates the backend.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda/error.h"
#include "mfn/abi.h"

namespace mfn_cuda {

enum class KernelKind {
  gemm,     // 1x1 conv (stride 1, no padding) or a dense layer whose kernel covers its input: tensor-core GEMM
  dwconv,   // depthwise kxk conv (3x3 s1/s2, the 7x7 GDConv, any size): direct, 8 channels per thread
  stem,     // dense conv with at most 4 input channels (the 3x3/s2 stem): direct, weights in shared memory
  generic,  // anything else (grouped, odd channel counts, weights outside the FP16 range): direct, FP32 weights
  maxpool,  // an MFN_OP_MAXPOOL layer: direct, no weights
};

const char* kernel_name(KernelKind kind);

// A depthwise layer fused into the 1x1 GEMM that follows it: the GEMM
// computes it while loading its A tiles, and its output tensor is never
// materialised.
struct FusedDepthwise {
  int layer = -1;               // index in mfn_plan::layers; -1: nothing fused
  int input = 0;                // the tensor the depthwise layer reads
  int c = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, dilation_h = 1, dilation_w = 1;
  size_t weight_offset = 0, bias_offset = 0, slope_offset = 0;  // as in Step
  bool has_slope = false;
};

// One layer as the device runs it. Tensor geometry is per image; the batch
// is the pass count of the call.
struct Step {
  KernelKind kind = KernelKind::generic;
  int layer = 0;          // index in mfn_plan::layers
  int input = 0, output = 0, residual = -1;
  bool residual_after_act = false;
  bool has_slope = false;
  int in_c = 0, in_h = 0, in_w = 0;
  int out_c = 0, out_h = 0, out_w = 0;
  int kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1;
  int pad_top = 0, pad_left = 0, dilation_h = 1, dilation_w = 1;
  int group = 1;
  int gemm_k = 0;               // GEMM reduction length (in_c, or in_h*in_w*in_c for a dense layer)
  size_t weight_offset = 0;     // into NetPlan::weights_fp16 (gemm, dwconv) or params_fp32 (stem, generic)
  size_t bias_offset = 0;       // into params_fp32 (not for maxpool)
  size_t slope_offset = 0;      // into params_fp32 (valid when has_slope)
  FusedDepthwise dw;            // gemm only: the depthwise layer producing its input
};

// The tensor a step reads as its main input (for a GEMM with a fused
// depthwise layer, that layer's input).
inline int main_input(const Step& step) { return step.dw.layer >= 0 ? step.dw.input : step.input; }

struct TensorInfo {
  int c = 0, h = 0, w = 0;
  size_t elements = 0;          // per image
  int buffer = -1;              // activation buffer holding it
};

struct NetPlan {
  std::vector<TensorInfo> tensors;
  std::vector<Step> steps;
  std::vector<size_t> buffer_elements;   // per pass (image); bytes = 2 * elements * pass capacity
  std::vector<uint16_t> weights_fp16;    // IEEE binary16 bits
  std::vector<float> params_fp32;
  int output = 0;                        // embedding tensor (an embedding network)
  int embedding_size = 0;                // 0 for a network with raw outputs
  std::vector<int> outputs;              // raw outputs in plan.outputs order (a detector); else empty
  size_t output_floats = 0;              // per image: embedding_size, or the raw outputs' elements summed
  int channel_src[3] = {0, 1, 2};
  float input_scale[3] = {1, 1, 1};
  float input_bias[3] = {0, 0, 0};

  bool raw() const { return !outputs.empty(); }

  // Device memory the activations need for `passes` images in flight.
  size_t activation_bytes(size_t passes) const;
};

// Largest element count any one tensor may reach over the whole batch: the
// kernels index with 32-bit pixel counts.
constexpr size_t kMaxTensorElements = size_t(1) << 31;

// Validates `plan` and builds the device plan for up to `max_passes` images
// per pass (max_batch, doubled for flip in an embedding network). Either an
// embedding network (num_outputs == 0) or one with raw outputs, whose every
// output tensor keeps its own buffer to the end of the run (the executor
// copies them out after the last step). MFN_E_MODEL_INVALID for an
// inconsistent plan, MFN_E_MODEL_UNSUPPORTED for one the backend cannot run,
// MFN_E_INVALID_ARGUMENT when max_passes makes a tensor too large. With
// fuse_depthwise, each depthwise layer whose only reader is the 1x1 GEMM
// right after it (no residual of its own, not an output) is fused into that GEMM.
Error build_plan(const mfn_plan& plan, int max_passes, NetPlan* out, bool fuse_depthwise = true);

// Which kernel a layer gets; exposed for tests.
KernelKind choose_kernel(const mfn_conv_layer& layer);

}  // namespace mfn_cuda
