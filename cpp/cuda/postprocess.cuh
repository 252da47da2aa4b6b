// Postprocessing on the device: the network's FP16 embeddings -> FP32,
// L2-normalised rows; with flip, row i is normalise(e[2i] + e[2i+1]) (the
// image and its mirror). One block per output row.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace mfn_cuda {

struct PostprocessParams {
  const __half* embeddings;  // [count * (flip ? 2 : 1)][size]
  float* out;                // [count][size]
  int count, size;
  bool flip;
};

cudaError_t launch_postprocess(const PostprocessParams& p, cudaStream_t stream);

}  // namespace mfn_cuda
