// Raw outputs on the device (a network without an embedding, such as the
// detector): one FP16 output tensor of `count` images -> FP32 values in the
// copy-out buffer, where each image's outputs lie one after the other in
// plan order: out[image * stride + offset + j] = x[image * elements + j].
// One launch per output tensor; NHWC stays NHWC.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>

namespace mfn_cuda {

struct RawOutputParams {
  const __half* x;          // [count][elements]
  float* out;               // [count][stride]
  int count;
  size_t elements;          // of this tensor, per image
  size_t stride;            // floats per image: every output's elements summed
  size_t offset;            // where this tensor starts within an image's floats
};

cudaError_t launch_raw_output(const RawOutputParams& p, cudaStream_t stream);

}  // namespace mfn_cuda
