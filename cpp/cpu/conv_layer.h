// One plan layer prepared for the CPU kernels: classified (1x1 GEMM,
// depthwise, or im2col + GEMM for everything else), weights repacked for
// the chosen kernels' panel width, bias and slopes padded. Built once at
// backend creation, read-only afterwards (shared by all pool threads).
#pragma once

#include <cstddef>

#include "cpu/aligned_buffer.h"
#include "cpu/kernels.h"
#include "mfn/abi.h"

namespace mfn {
namespace cpu {

enum class ConvKind {
  gemm,       // A is the input itself: 1x1/stride 1/no pad, or a kernel covering the whole input
  depthwise,  // group == in_c == out_c
  im2col,     // anything else: patches gathered per row chunk, then GEMM per group
};

struct ConvLayer {
  ConvKind kind = ConvKind::gemm;
  mfn_conv_layer geo{};   // shapes and tensor indices; weight pointers cleared
  int m = 0;              // output pixels
  int k = 0;              // GEMM depth per group: kh * kw * in_c / group
  int n = 0;              // output channels per group
  int panels = 0;         // packed B panels per group
  int chunk_rows = 0;     // im2col: output pixels gathered per chunk
  AlignedBuffer weights;  // GEMM: [group][panel][k][nr]; depthwise: [kh*kw][c]
  AlignedBuffer bias;     // GEMM: [group][panels*nr]; depthwise: [c rounded up to 16]
  AlignedBuffer slope;    // same layout as bias; empty for a linear layer
};

// Prepares a layer whose geometry the caller has validated. False when
// memory runs out.
bool make_conv_layer(const mfn_conv_layer& src, const Kernels& kernels, ConvLayer* out);

// [lo, hi) of `total` units for participant `part` of `parts`, in blocks of
// `block` units (the slice of a layer's work one participant of a pool run does).
void split(int total, int block, int part, int parts, int* lo, int* hi);

// The window of plan layer `l` (a depthwise conv or a pool) reading `in` and writing `out`.
WindowArgs window_args(const mfn_conv_layer& l, const float* in, float* out);

// Floats of per-thread scratch the layer needs (im2col patches).
size_t conv_scratch_floats(const ConvLayer& layer);

// Computes slice `part` of `parts` of one image's output. in/res/out are
// NHWC; res is null when the layer has no residual. Called concurrently by
// the participants of a pool run, each with its own scratch.
void run_conv_layer(const ConvLayer& layer, const Kernels& kernels, const float* in, const float* res, float* out,
                    float* scratch, int part, int parts);

}  // namespace cpu
}  // namespace mfn
