// A MaxPool plan layer on the CPU: geometry only (no weights), run by the
// ISA's maxpool kernel on bands of output rows. Built once at backend
// creation; run concurrently by the participants of a pool run.
#pragma once

#include "cpu/conv_layer.h"
#include "cpu/kernels.h"
#include "mfn/abi.h"

namespace mfn {
namespace cpu {

// Keeps the validated geometry of `src` (an MFN_OP_MAXPOOL layer).
void make_pool_layer(const mfn_conv_layer& src, ConvLayer* out);

// Slice `part` of `parts` of one image's output rows; in/out NHWC.
void run_pool_layer(const ConvLayer& layer, const Kernels& kernels, const float* in, float* out, int part, int parts);

}  // namespace cpu
}  // namespace mfn
