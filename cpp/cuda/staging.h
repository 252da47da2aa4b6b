// Host-side staging decisions of the CUDA backend, kept CUDA-free so that
// they are tested without a GPU: caller-image checks, the source rectangle
// each image's transform samples (only it is copied to the device, once
// for images that share their pixels), the
// graph batch buckets, how a call is cut into pipelined chunks and the order
// in which the two slots are finished and refilled. Runs on the thread that
// calls embed.
#pragma once

#include <cstddef>
#include <vector>

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

// What a chunk uploads: regions of caller pixels, each staged once. Images
// that read the same caller buffer (several faces of one photo, each an
// mfn_image with its own transform and the same data) share a region when
// the rectangle holding both takes no more bytes than the two apart: crops
// that overlap are uploaded once, and faces far apart in a large photo are
// not joined into a larger block. Every image's rectangle lies inside its
// region. Other images get a region of their own.
struct StagedRegion {
  size_t image = 0;  // the first image staged from it (its data, stride and channels)
  Rect rect;
};
struct StagingPlan {
  std::vector<StagedRegion> regions;
  std::vector<int> region_of;  // per image
  size_t bytes = 0;            // the regions' pixels, at most the images' rectangles summed
};
StagingPlan plan_staging(const mfn_image* images, const Rect* rects, size_t count);

// Smallest graph batch size holding `count` images: 1, 2, 3, 4, 6, 8, 12,
// 16, 24, ... (powers of two and 1.5x, so padding wastes at most a third),
// capped at max_batch.
int bucket_for(int count, int max_batch);

// Images per chunk for a call of n: at most max_batch; a call of more than
// 2 x 64 images is cut into about four chunks (of at least 64) so staging
// and copy-in of one overlap the compute of another.
size_t chunk_size(size_t n, int max_batch);

// One host step of a call on the two-slot pipeline. finish: wait for the
// slot's chunk in flight (if any) and copy its embeddings out; submit: stage
// images [first, first + count) into the slot and enqueue copy-in, the
// network (after the other slot's network: the activations are shared) and
// copy-out on the slot's stream.
struct PipelineStep {
  enum Kind { finish, submit } kind;
  int slot;
  size_t first = 0, count = 0;
};

// The steps of a call of image_bytes.size() images whose staged pixels take
// image_bytes[i] bytes: chunks of at most chunk_size(n, max_batch) images and
// at most max_chunk_bytes (a chunk always takes one image, however large),
// submitted to slots 0, 1, 0, ...; each slot is finished before it is
// refilled, and the last two chunks are finished in submission order.
std::vector<PipelineStep> pipeline_steps(const std::vector<size_t>& image_bytes, int max_batch,
                                         size_t max_chunk_bytes);

}  // namespace mfn_cuda
