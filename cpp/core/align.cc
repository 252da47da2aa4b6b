// Five-point alignment, as insightface does it: skimage's
// SimilarityTransform.estimate(landmarks, template) followed by
// cv2.warpAffine, which samples the source at M^-1 of each output pixel.
// Pure functions, callable from any thread.
#include "core/align.h"

#include <cmath>
#include <string>

namespace mfn {

const float kArcFaceTemplate[10] = {
    38.2946f, 51.6963f,  // left eye
    73.5318f, 51.5014f,  // right eye
    56.0252f, 71.7366f,  // nose tip
    41.5493f, 92.3655f,  // left mouth corner
    70.7299f, 92.2041f,  // right mouth corner
};

namespace {

constexpr int kPoints = 5;
// Landmarks closer than this (pixels) cannot be a pair of eyes.
constexpr double kMinEyeDistance = 1.0;
// The forward scale landmarks -> template; outside this range the landmarks
// are garbage (all on one spot, or spread over light years).
constexpr double kMinScale = 1e-6;
constexpr double kMaxScale = 1e6;
// Minor / major principal spread of the landmarks below which the set is
// treated as collinear (its covariance is numerically rank 1).
constexpr double kMinAspect = 1e-3;

Status invalid(const std::string& message) {
  return Status(Code::invalid_landmarks, message);
}

bool all_finite(const float* p, int count) {
  for (int i = 0; i < count; ++i) {
    if (!std::isfinite(p[i])) return false;
  }
  return true;
}

// sqrt(smallest / largest eigenvalue) of the 2x2 covariance of the points:
// 0 for collinear (or coincident) points, 1 for an isotropic spread.
double spread_aspect(const float* p, int n) {
  double mx = 0, my = 0;
  for (int i = 0; i < n; ++i) {
    mx += p[2 * i];
    my += p[2 * i + 1];
  }
  mx /= n;
  my /= n;
  double sxx = 0, syy = 0, sxy = 0;
  for (int i = 0; i < n; ++i) {
    const double dx = p[2 * i] - mx, dy = p[2 * i + 1] - my;
    sxx += dx * dx;
    syy += dy * dy;
    sxy += dx * dy;
  }
  const double half_trace = 0.5 * (sxx + syy);
  const double root = std::sqrt(0.25 * (sxx - syy) * (sxx - syy) + sxy * sxy);
  const double major = half_trace + root;
  const double minor = half_trace - root;
  if (!(major > 0)) return 0;
  return minor <= 0 ? 0 : std::sqrt(minor / major);
}

// Umeyama (1991) restricted to proper rotations. In 2-D a scaled rotation
// [a -b; b a] is multiplication by the complex number s = a + ib, and the
// least-squares s over centred points z (src) and w (dst) is
//   s = sum(conj(z) w) / sum(|z|^2),
// which is exactly Umeyama's c*R with the det(covariance) sign fix (c >= 0,
// det R = +1): a mirrored point set gets the best proper rotation, never a
// reflection. No SVD needed, and no rank-1 special case.
// Writes (a, b, tx, ty) in double so that callers can invert it exactly.
Status estimate_similarity(const float* src, const float* dst, int n, double abt[4]) {
  if (src == nullptr || dst == nullptr) return invalid("landmarks are null");
  if (n < 2) return invalid("a similarity needs at least 2 points");
  if (!all_finite(src, 2 * n) || !all_finite(dst, 2 * n)) {
    return invalid("landmarks contain a non-finite value");
  }
  double sx = 0, sy = 0, dx = 0, dy = 0;
  for (int i = 0; i < n; ++i) {
    sx += src[2 * i];
    sy += src[2 * i + 1];
    dx += dst[2 * i];
    dy += dst[2 * i + 1];
  }
  sx /= n;
  sy /= n;
  dx /= n;
  dy /= n;
  double num_a = 0, num_b = 0, den = 0;
  for (int i = 0; i < n; ++i) {
    const double x = src[2 * i] - sx, y = src[2 * i + 1] - sy;
    const double u = dst[2 * i] - dx, v = dst[2 * i + 1] - dy;
    num_a += x * u + y * v;
    num_b += x * v - y * u;
    den += x * x + y * y;
  }
  if (!(den > 0)) return invalid("landmarks are all at one point");
  const double a = num_a / den, b = num_b / den;
  const double scale = std::sqrt(a * a + b * b);
  if (!(scale >= kMinScale && scale <= kMaxScale)) {
    return invalid("landmarks give a degenerate scale (" + std::to_string(scale) + ")");
  }
  abt[0] = a;
  abt[1] = b;
  abt[2] = dx - (a * sx - b * sy);
  abt[3] = dy - (b * sx + a * sy);
  return Status::ok();
}

}  // namespace

Status umeyama_similarity(const float* src, const float* dst, int n, float m[6]) {
  if (m == nullptr) return Status(Code::invalid_argument, "transform output is null");
  double abt[4];
  MFN_RETURN_IF_ERROR(estimate_similarity(src, dst, n, abt));
  m[0] = static_cast<float>(abt[0]);
  m[1] = static_cast<float>(-abt[1]);
  m[2] = static_cast<float>(abt[2]);
  m[3] = static_cast<float>(abt[1]);
  m[4] = static_cast<float>(abt[0]);
  m[5] = static_cast<float>(abt[3]);
  return Status::ok();
}

Status alignment_transform(const float* landmarks, int out_w, int out_h, float t[6]) {
  if (t == nullptr) return Status(Code::invalid_argument, "transform output is null");
  if (out_w <= 0 || out_h <= 0) {
    return Status(Code::invalid_argument, "alignment output size must be positive");
  }
  if (landmarks == nullptr) return invalid("landmarks are null");
  if (!all_finite(landmarks, 2 * kPoints)) return invalid("landmarks contain a non-finite value");
  const double eye_dx = double(landmarks[2]) - landmarks[0];
  const double eye_dy = double(landmarks[3]) - landmarks[1];
  if (std::sqrt(eye_dx * eye_dx + eye_dy * eye_dy) < kMinEyeDistance) {
    return invalid("the two eye landmarks coincide");
  }
  if (spread_aspect(landmarks, kPoints) < kMinAspect) return invalid("landmarks are collinear");

  float target[2 * kPoints];
  const double sx = out_w / 112.0, sy = out_h / 112.0;
  for (int i = 0; i < kPoints; ++i) {
    target[2 * i] = static_cast<float>(kArcFaceTemplate[2 * i] * sx);
    target[2 * i + 1] = static_cast<float>(kArcFaceTemplate[2 * i + 1] * sy);
  }
  double abt[4];
  MFN_RETURN_IF_ERROR(estimate_similarity(landmarks, target, kPoints, abt));

  // Invert dst = A src + c with A = [a -b; b a]: src = A^-1 (dst - c),
  // A^-1 = [a b; -b a] / (a^2 + b^2).
  const double a = abt[0], b = abt[1], cx = abt[2], cy = abt[3];
  const double r = a * a + b * b;
  const double i0 = a / r, i1 = b / r, i3 = -b / r, i4 = a / r;
  t[0] = static_cast<float>(i0);
  t[1] = static_cast<float>(i1);
  t[2] = static_cast<float>(-(i0 * cx + i1 * cy));
  t[3] = static_cast<float>(i3);
  t[4] = static_cast<float>(i4);
  t[5] = static_cast<float>(-(i3 * cx + i4 * cy));
  return Status::ok();
}

}  // namespace mfn
