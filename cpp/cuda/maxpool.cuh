// MaxPool on NHWC FP16 (the MFN_OP_MAXPOOL layers: the detector's 2x2/s2
// pools on the skip path of its strided blocks; any kernel, stride and
// padding below the kernel size). Padding never wins; the window walk and
// the NaN behaviour are those of pool_window.h, which the CPU pool layer is
// checked against. With c % 8 == 0 a thread takes 8 channels of one output
// pixel with 16-byte loads and stores; any other channel count runs one
// channel per thread (a pixel's channels are then not 16-byte aligned).
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/pool_window.h"

namespace mfn_cuda {

struct MaxpoolParams {
  const __half* x;          // [batch][in_h][in_w][c]
  __half* y;                // [batch][out_h][out_w][c]
  int batch;
  PoolGeometry g;
};

cudaError_t launch_maxpool(const MaxpoolParams& p, cudaStream_t stream);

}  // namespace mfn_cuda
