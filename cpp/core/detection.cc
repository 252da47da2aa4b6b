#include "core/detection.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/align.h"

namespace mfn {

void decode_anchors(const AnchorLevel& level, int input_size, float min_score, std::vector<Detection>* out) {
  const float size = static_cast<float>(input_size);
  for (int y = 0; y < level.grid_h; ++y) {
    for (int x = 0; x < level.grid_w; ++x) {
      const float ax = (x + 0.5f) / level.grid_w * size, ay = (y + 0.5f) / level.grid_h * size;
      for (int a = 0; a < level.anchors; ++a) {
        const size_t i = (static_cast<size_t>(y) * level.grid_w + x) * level.anchors + a;
        const float logit = std::min(100.0f, std::max(-100.0f, level.scores[i]));
        const float score = 1.0f / (1.0f + std::exp(-logit));
        // NaN logits fail this test too.
        if (!(score >= min_score)) continue;
        const float* r = level.boxes + i * level.stride;
        Detection d;
        d.score = score;
        d.cx = ax + r[0];
        d.cy = ay + r[1];
        d.w = r[2];
        d.h = r[3];
        for (int k = 0; k < kDetectorKeypoints; ++k) {
          d.keypoints[2 * k] = ax + r[4 + 2 * k];
          d.keypoints[2 * k + 1] = ay + r[5 + 2 * k];
        }
        out->push_back(d);
      }
    }
  }
}

float box_iou(const Detection& a, const Detection& b) {
  if (!(a.w > 0 && a.h > 0 && b.w > 0 && b.h > 0)) return 0;
  const float x0 = std::max(a.cx - a.w / 2, b.cx - b.w / 2), x1 = std::min(a.cx + a.w / 2, b.cx + b.w / 2);
  const float y0 = std::max(a.cy - a.h / 2, b.cy - b.h / 2), y1 = std::min(a.cy + a.h / 2, b.cy + b.h / 2);
  const float inter = std::max(0.0f, x1 - x0) * std::max(0.0f, y1 - y0);
  return inter / (a.w * a.h + b.w * b.h - inter);
}

std::vector<Detection> weighted_nms(std::vector<Detection> detections, float iou_threshold) {
  std::stable_sort(detections.begin(), detections.end(),
                   [](const Detection& a, const Detection& b) { return a.score > b.score; });
  std::vector<Detection> faces;
  std::vector<bool> taken(detections.size(), false);
  for (size_t i = 0; i < detections.size(); ++i) {
    if (taken[i]) continue;
    const Detection& best = detections[i];
    double sum_w = 0, box[4] = {0, 0, 0, 0}, kp[2 * kDetectorKeypoints] = {};
    for (size_t j = i; j < detections.size(); ++j) {
      if (taken[j] || (j != i && !(box_iou(best, detections[j]) > iou_threshold))) continue;
      taken[j] = true;
      const Detection& d = detections[j];
      const double w = d.score;
      sum_w += w;
      box[0] += w * d.cx, box[1] += w * d.cy, box[2] += w * d.w, box[3] += w * d.h;
      for (int k = 0; k < 2 * kDetectorKeypoints; ++k) kp[k] += w * d.keypoints[k];
    }
    Detection f;
    f.score = best.score;
    f.cx = static_cast<float>(box[0] / sum_w), f.cy = static_cast<float>(box[1] / sum_w);
    f.w = static_cast<float>(box[2] / sum_w), f.h = static_cast<float>(box[3] / sum_w);
    for (int k = 0; k < 2 * kDetectorKeypoints; ++k) f.keypoints[k] = static_cast<float>(kp[k] / sum_w);
    faces.push_back(f);
  }
  return faces;
}

Letterbox letterbox(int width, int height, int size) {
  Letterbox box;
  box.scale = static_cast<float>(size) / static_cast<float>(std::max(width, height));
  box.offset_x = (size - width * box.scale) / 2;
  box.offset_y = (size - height * box.scale) / 2;
  return box;
}

void letterbox_transform(const Letterbox& box, int shrink, float t[6]) {
  // dst pixel centre (x + 0.5) in model space -> photo continuous
  // ((x + 0.5 - offset) / scale) -> shrunk continuous (/ shrink) -> its
  // pixel centre (- 0.5).
  const float inv = 1.0f / (box.scale * static_cast<float>(shrink));
  t[0] = inv, t[1] = 0, t[2] = (0.5f - box.offset_x) * inv - 0.5f;
  t[3] = 0, t[4] = inv, t[5] = (0.5f - box.offset_y) * inv - 0.5f;
}

int shrink_factor(const Letterbox& box) {
  return box.scale >= 0.5f ? 1 : static_cast<int>(std::floor(1.0f / box.scale));
}

std::vector<uint8_t> shrink_image(const ImageInput& image, int factor, int* out_w, int* out_h) {
  const int w = (image.width + factor - 1) / factor, h = (image.height + factor - 1) / factor;
  const size_t stride = image.row_stride ? image.row_stride : static_cast<size_t>(image.width) * image.channels;
  std::vector<uint8_t> out(static_cast<size_t>(w) * h * 3);
  std::vector<uint32_t> sums(static_cast<size_t>(w) * 3);
  for (int by = 0; by < h; ++by) {
    std::fill(sums.begin(), sums.end(), 0u);
    const int y0 = by * factor, y1 = std::min(image.height, y0 + factor);
    for (int y = y0; y < y1; ++y) {
      // Block by block, so that no pixel pays for a division by the factor.
      const uint8_t* p = image.data + static_cast<size_t>(y) * stride;
      for (int bx = 0; bx < w; ++bx) {
        const int x_end = std::min(image.width, (bx + 1) * factor);
        uint32_t s0 = 0, s1 = 0, s2 = 0;
        for (int x = bx * factor; x < x_end; ++x, p += image.channels) s0 += p[0], s1 += p[1], s2 += p[2];
        uint32_t* s = &sums[static_cast<size_t>(bx) * 3];
        s[0] += s0, s[1] += s1, s[2] += s2;
      }
    }
    for (int bx = 0; bx < w; ++bx) {
      const uint32_t n = static_cast<uint32_t>((std::min(image.width, (bx + 1) * factor) - bx * factor) * (y1 - y0));
      for (int k = 0; k < 3; ++k) {
        out[(static_cast<size_t>(by) * w + bx) * 3 + k] = static_cast<uint8_t>((sums[bx * 3 + k] + n / 2) / n);
      }
    }
  }
  *out_w = w;
  *out_h = h;
  return out;
}

void default_align_points(float out[8]) {
  const float* t = kArcFaceTemplate;
  for (int k = 0; k < 6; ++k) out[k] = t[k];
  out[6] = (t[6] + t[8]) / 2;
  out[7] = (t[7] + t[9]) / 2;
}

bool to_face(const Detection& d, const Letterbox& box, const float align_points[8], Face* out) {
  const float inv = 1.0f / box.scale;
  out->score = d.score;
  out->x = (d.cx - d.w / 2 - box.offset_x) * inv;
  out->y = (d.cy - d.h / 2 - box.offset_y) * inv;
  out->width = d.w * inv;
  out->height = d.h * inv;
  for (int k = 0; k < kDetectorKeypoints; ++k) {
    out->keypoints[2 * k] = (d.keypoints[2 * k] - box.offset_x) * inv - 0.5f;
    out->keypoints[2 * k + 1] = (d.keypoints[2 * k + 1] - box.offset_y) * inv - 0.5f;
  }
  // m maps the photo onto the template: template = [a -b; b a] p + t.
  float m[6];
  if (!umeyama_similarity(out->keypoints, align_points, 4, m).is_ok()) return false;
  const float a = m[0], b = m[3], det = a * a + b * b;
  if (!(det > 1e-12f) || !std::isfinite(det)) return false;
  // Each landmark is its key point moved by the template's offset from where
  // that key point sits on average (align_points), in the face's frame:
  // S^-1(S(key) + template - align). The mouth corners take the mouth
  // centre's key point. With the default align points the eyes and nose are
  // the key points themselves.
  const float* t = kArcFaceTemplate;
  for (int k = 0; k < 5; ++k) {
    const int j = k < 3 ? k : 3;
    const float kx = out->keypoints[2 * j], ky = out->keypoints[2 * j + 1];
    const float sx = a * kx - b * ky + m[2], sy = b * kx + a * ky + m[5];
    const float u = sx + t[2 * k] - align_points[2 * j] - m[2], v = sy + t[2 * k + 1] - align_points[2 * j + 1] - m[5];
    out->landmarks[2 * k] = (a * u + b * v) / det;
    out->landmarks[2 * k + 1] = (-b * u + a * v) / det;
  }
  return true;
}

}  // namespace mfn
