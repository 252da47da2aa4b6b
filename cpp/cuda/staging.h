// Host-side staging decisions of the CUDA backend, kept CUDA-free so that
// they are tested without a GPU: caller-image checks, the source rectangle
// each image's transform samples (only it is copied to the device), the
// graph batch buckets and how a call is cut into pipelined chunks. Runs on
// the thread that calls embed.
#pragma once

#include <cstddef>

#include "cuda/error.h"
#include "mfn/abi.h"

namespace mfn_cuda {

// Whole-image pixel rectangle [x0, x0+w) x [y0, y0+h).
struct Rect {
  int x0 = 0, y0 = 0, w = 0, h = 0;
};

// Pointer, size, channels, order, border, stride and a finite transform.
Error check_image(const mfn_image& image, size_t index);

// The rectangle holding every bilinear tap of the out_w x out_h grid that
// lies inside the image (the transform is affine, so the corners bound it;
// one extra pixel on each side absorbs float rounding on the device).
// Never empty: for a grid entirely outside the image it is the nearest edge
// pixel, which is what the clamp border reads there.
Rect sampled_rect(const mfn_image& image, int out_w, int out_h);

inline size_t rect_bytes(const Rect& r, int channels) { return static_cast<size_t>(r.w) * r.h * channels; }

// Smallest graph batch size holding `count` images: 1, 2, 3, 4, 6, 8, 12,
// 16, 24, ... (powers of two and 1.5x, so padding wastes at most a third),
// capped at max_batch.
int bucket_for(int count, int max_batch);

// Images per chunk for a call of n: at most max_batch; a call of more than
// 2 x 64 images is cut into about four chunks (of at least 64) so staging
// and copy-in of one overlap the compute of another.
size_t chunk_size(size_t n, int max_batch);

}  // namespace mfn_cuda
