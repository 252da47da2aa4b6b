// Preprocessing on the device: each caller image (uint8 HWC, staged as the
// sub-rectangle its transform samples) -> the normalised FP16 NHWC network
// input, bilinear through the image's dst -> src transform, with the border
// rule of mfn_image. With flip, image i becomes pass 2i and its mirror
// (dst_x -> width-1-dst_x) pass 2i+1, from the same samples.
#pragma once

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

namespace mfn_cuda {

// One staged image, filled by the host per call (plain data, copied to the
// device with the pixels). Only the rectangle [x0, x0+sub_w) x [y0, y0+sub_h)
// of the caller's image is staged: every bilinear tap that falls inside the
// image falls inside it.
struct ImageDesc {
  const uint8_t* pixels;    // device address of the rectangle's first pixel; null = padding (zeros)
  int64_t row_stride;       // bytes
  int32_t x0, y0, sub_w, sub_h;
  int32_t width, height;    // the whole caller image
  int32_t channels;         // 3 or 4
  int32_t order;            // mfn_pixel_order
  int32_t border;           // mfn_border
  float transform[6];       // dst -> src, whole-image coordinates
};

struct PreprocessParams {
  const ImageDesc* images;  // [count]
  __half* x;                // [count * (flip ? 2 : 1)][height][width][3]
  int count, height, width;
  bool flip;
  int channel_src[3];       // model channel k <- RGB channel channel_src[k]
  float scale[3], bias[3];
};

cudaError_t launch_preprocess(const PreprocessParams& p, cudaStream_t stream);

}  // namespace mfn_cuda
