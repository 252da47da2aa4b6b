// The arithmetic of face detection around the network, as pure functions
// (any thread, no state): letterboxing a photo into the detector input,
// decoding the anchor grid of a BlazeFace-style detector, weighted
// non-maximum suppression, mapping back to photo pixels and turning the
// detector's key points into the five ArcFace landmarks.
//
// Coordinates: "model" space is the detector input in continuous pixel
// units (the input spans [0, size] x [0, size]); photo boxes are in
// continuous pixel units too ([0, width] x [0, height]); landmarks are
// 0-based pixel centres, like the landmarks embed() takes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mfn/engine.h"

namespace mfn {

// The key points a BlazeFace detector regresses per anchor, in its order:
// image-left eye, image-right eye, nose tip, mouth centre, image-left ear,
// image-right ear.
constexpr int kDetectorKeypoints = 6;

// One decoded anchor or one face after suppression, in model space.
struct Detection {
  float cx = 0, cy = 0, w = 0, h = 0;  // box centre and size
  float keypoints[2 * kDetectorKeypoints] = {};
  float score = 0;                     // sigmoid of the logit
};

// One output level of the detector: a grid of cells with `anchors` anchors
// each. scores[(y*grid_w + x)*anchors + a] are logits; boxes[...*stride]
// hold per anchor 4 box values (dx, dy, w, h) and 2 per key point, all in
// model pixels relative to the cell centre.
struct AnchorLevel {
  const float* scores = nullptr;
  const float* boxes = nullptr;
  int grid_w = 0, grid_h = 0, anchors = 0;
  int stride = 4 + 2 * kDetectorKeypoints;  // floats per anchor in boxes
};

// Every anchor whose score reaches min_score, appended to `out`. Anchor
// centres are at ((x + 0.5) / grid_w, (y + 0.5) / grid_h) * input_size
// (fixed-size anchors, as BlazeFace uses); logits are clipped to [-100, 100]
// before the sigmoid.
void decode_anchors(const AnchorLevel& level, int input_size, float min_score, std::vector<Detection>* out);

// Intersection over union of two boxes (0 when either is empty).
float box_iou(const Detection& a, const Detection& b);

// Weighted non-maximum suppression (as MediaPipe's face detector does it):
// take the best remaining detection, and every remaining one overlapping it
// with IoU > iou_threshold; the face is their score-weighted mean box and
// key points with the best score. Highest score first; stable for ties.
std::vector<Detection> weighted_nms(std::vector<Detection> detections, float iou_threshold);

// Letterbox: the photo scaled by `scale` (the same on both axes, so its
// aspect ratio is kept) and centred in a size x size input, the margins
// black. model = photo_continuous * scale + offset.
struct Letterbox {
  float scale = 1, offset_x = 0, offset_y = 0;
};
Letterbox letterbox(int width, int height, int size);

// The dst -> src sampling transform (mfn_image.transform, pixel centres) of
// the letterbox, for the photo itself (shrink 1) or for a copy shrunk by an
// integer factor (shrink_image).
void letterbox_transform(const Letterbox& box, int shrink, float t[6]);

// The integer factor a photo is box-filtered by before the letterbox's
// bilinear resampling, so that a large photo is averaged rather than
// aliased: floor(1 / scale), at least 1.
int shrink_factor(const Letterbox& box);

// `image` averaged over factor x factor blocks (the last row and column of
// blocks over what remains) into 3-channel pixels of the same order:
// ceil(width / factor) x ceil(height / factor). Alpha is dropped.
std::vector<uint8_t> shrink_image(const ImageInput& image, int factor, int* out_w, int* out_h);

// Where the detector's first four key points (eyes, nose tip, mouth centre)
// lie on a face aligned to the ArcFace 112x112 template, as 8 floats: by
// default the template's own eyes and nose and the mean of its mouth
// corners; a detector manifest may give its measured positions
// ("alignPoints", see scripts/calibrate-detector.mjs).
void default_align_points(float out[8]);

// A detection mapped to the photo: box in continuous pixels (not clipped:
// a face cut by the border keeps its whole box), raw key points and
// landmarks as pixel centres. The landmarks are the five ArcFace points:
// with S the least-squares similarity from the four key points onto
// `align_points`, each is S^-1(S(key point) + template point - align point)
// (the mouth corners from the mouth centre), i.e. the detector's point with
// its average offset from the template's removed in the face's own frame.
// False when the points are degenerate (no usable similarity).
bool to_face(const Detection& d, const Letterbox& box, const float align_points[8], Face* out);

}  // namespace mfn
