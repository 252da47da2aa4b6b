// Five-point face alignment: the similarity transform (Umeyama, no
// reflection) that maps a face's landmarks onto the ArcFace 112x112
// template, returned as the dst -> src sampling transform of mfn_image.
#pragma once

#include "mfn/status.h"

namespace mfn {

// ArcFace template, 112x112: left eye, right eye, nose tip, left mouth
// corner, right mouth corner.
extern const float kArcFaceTemplate[10];

// landmarks: 10 floats (x0,y0,...,x4,y4), 0-based pixel centres in the
// source image. out_w/out_h: model input size (the template is scaled by
// out/112 for other sizes). Non-finite or degenerate landmarks (coincident
// eyes, scale near 0) -> MFN_INVALID_LANDMARKS.
Status alignment_transform(const float* landmarks, int out_w, int out_h, float t[6]);

// Forward similarity estimate, src -> dst, as a 2x3 matrix [a -b tx; b a ty];
// exposed for tests.
Status umeyama_similarity(const float* src, const float* dst, int n, float m[6]);

}  // namespace mfn
