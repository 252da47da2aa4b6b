// Preprocessing on the CPU: sample a caller image through its transform
// (bilinear), pick the model's channel order and normalise, optionally
// mirrored. The reference every other backend's preprocessing is tested
// against.
#pragma once

#include "mfn/abi.h"
#include "mfn/engine.h"
#include "mfn/status.h"

namespace mfn {

// Checks data/size/width/height/channels/order/stride of a caller image:
// MFN_INVALID_ARGUMENT (null data, too few bytes, bad order),
// MFN_INVALID_DIMENSIONS (0 or > 16384 sides), MFN_INVALID_CHANNELS (not 3/4).
Status validate_image(const ImageInput& image);

// The mfn_image a backend reads for a checked caller image: its pixels,
// sides, channels, order and row stride (0 resolved); transform and border
// left for the caller to set.
mfn_image image_view(const ImageInput& image);

// The resize transform: dst (out_w x out_h) -> src (w x h), pixel centres
// aligned (src = (dst + 0.5) * src_size / dst_size - 0.5), border clamp.
// The identity when the sizes match.
void resize_transform(int src_w, int src_h, int dst_w, int dst_h, float t[6]);

// Writes plan.tensors[0] (c x h x w, NCHW float) for one image.
void preprocess_image(const mfn_image& image, const mfn_plan& plan, bool mirror, float* out);

// The same values in NHWC order (h x w x c), as the CPU backend consumes
// them. Bit-identical to preprocess_image, element for element.
void preprocess_image_nhwc(const mfn_image& image, const mfn_plan& plan, bool mirror, float* out);

// Rows [y_begin, y_end) of preprocess_image_nhwc (out is the whole tensor),
// so that several threads can share one image.
void preprocess_rows_nhwc(const mfn_image& image, const mfn_plan& plan, bool mirror, int y_begin, int y_end,
                          float* out);

}  // namespace mfn
