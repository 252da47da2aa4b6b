// Five-point alignment: hand-computed transforms, the insightface reference
// (skimage SimilarityTransform.estimate, numbers computed with its Umeyama
// algorithm in float64), the no-reflection rule, least-squares optimality,
// and every rejection.
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/align.h"
#include "tests/check.h"

namespace {

using mfn::Code;
using mfn::kArcFaceTemplate;

constexpr double kPi = 3.14159265358979323846;
constexpr double kTol = 1e-4;

bool near(double a, double b, double tol = kTol) {
  return std::fabs(a - b) <= tol * (1.0 + std::fabs(b));
}

void expect_transform(const char* what, const float t[6], const double want[6]) {
  for (int i = 0; i < 6; ++i) {
    CHECK_MSG(near(t[i], want[i]), "%s: t[%d] = %.7f, want %.7f", what, i, t[i], want[i]);
  }
}

void apply(const float t[6], double x, double y, double* ox, double* oy) {
  *ox = t[0] * x + t[1] * y + t[2];
  *oy = t[3] * x + t[4] * y + t[5];
}

// Every output-space template point must sample the source at its landmark.
void expect_maps_template(const char* what, const float t[6], const float lm[10], double scale_x,
                          double scale_y) {
  for (int i = 0; i < 5; ++i) {
    double x, y;
    apply(t, kArcFaceTemplate[2 * i] * scale_x, kArcFaceTemplate[2 * i + 1] * scale_y, &x, &y);
    CHECK_MSG(near(x, lm[2 * i], 1e-4) && near(y, lm[2 * i + 1], 1e-4),
              "%s: point %d -> (%.5f, %.5f), want (%.5f, %.5f)", what, i, x, y, lm[2 * i],
              lm[2 * i + 1]);
  }
}

// landmarks = s * R(theta) * template + (cx, cy)
void similar_template(double s, double theta, double cx, double cy, float lm[10]) {
  const double c = std::cos(theta), sn = std::sin(theta);
  for (int i = 0; i < 5; ++i) {
    const double x = kArcFaceTemplate[2 * i], y = kArcFaceTemplate[2 * i + 1];
    lm[2 * i] = static_cast<float>(s * (c * x - sn * y) + cx);
    lm[2 * i + 1] = static_cast<float>(s * (sn * x + c * y) + cy);
  }
}

void test_identity() {
  float t[6];
  REQUIRE(mfn::alignment_transform(kArcFaceTemplate, 112, 112, t).is_ok());
  const double want[6] = {1, 0, 0, 0, 1, 0};
  expect_transform("identity", t, want);
}

void test_pure_scale() {
  float lm[10];
  for (int i = 0; i < 10; ++i) lm[i] = kArcFaceTemplate[i] * 2;
  float t[6];
  REQUIRE(mfn::alignment_transform(lm, 112, 112, t).is_ok());
  const double want[6] = {2, 0, 0, 0, 2, 0};
  expect_transform("scale 2", t, want);

  float m[6];
  REQUIRE(mfn::umeyama_similarity(lm, kArcFaceTemplate, 5, m).is_ok());
  const double want_forward[6] = {0.5, 0, 0, 0, 0.5, 0};
  expect_transform("forward scale 2", m, want_forward);
}

void test_rotation_90_about_point() {
  // Rotate the template by +90 degrees about p = (60, 50): the sampling
  // transform is that same rotation, src = R (dst - p) + p.
  const double px = 60, py = 50;
  float lm[10];
  for (int i = 0; i < 5; ++i) {
    const double x = kArcFaceTemplate[2 * i] - px, y = kArcFaceTemplate[2 * i + 1] - py;
    lm[2 * i] = static_cast<float>(-y + px);
    lm[2 * i + 1] = static_cast<float>(x + py);
  }
  float t[6];
  REQUIRE(mfn::alignment_transform(lm, 112, 112, t).is_ok());
  const double want[6] = {0, -1, px + py, 1, 0, py - px};
  expect_transform("rotation 90", t, want);
  expect_maps_template("rotation 90", t, lm, 1, 1);
}

void test_translation() {
  float lm[10];
  for (int i = 0; i < 5; ++i) {
    lm[2 * i] = kArcFaceTemplate[2 * i] + 10;
    lm[2 * i + 1] = kArcFaceTemplate[2 * i + 1] - 5;
  }
  float t[6];
  REQUIRE(mfn::alignment_transform(lm, 112, 112, t).is_ok());
  const double want[6] = {1, 0, 10, 0, 1, -5};
  expect_transform("translation", t, want);
}

void test_scale_rotation_translation() {
  const double s = 1.7, theta = 0.3, cx = 35.5, cy = -12.25;
  float lm[10];
  similar_template(s, theta, cx, cy, lm);
  float t[6];
  REQUIRE(mfn::alignment_transform(lm, 112, 112, t).is_ok());
  const double c = std::cos(theta), sn = std::sin(theta);
  const double want[6] = {s * c, -s * sn, cx, s * sn, s * c, cy};
  expect_transform("scale+rotation+translation", t, want);
  expect_maps_template("scale+rotation+translation", t, lm, 1, 1);
}

void test_other_output_size() {
  // The template itself into a 224x224 crop: output pixels are twice as
  // dense, so the sampling transform halves.
  float t[6];
  REQUIRE(mfn::alignment_transform(kArcFaceTemplate, 224, 224, t).is_ok());
  const double half[6] = {0.5, 0, 0, 0, 0.5, 0};
  expect_transform("template at 224", t, half);

  // A face at twice the template size fills a 224x224 crop exactly.
  float lm[10];
  for (int i = 0; i < 10; ++i) lm[i] = kArcFaceTemplate[i] * 2;
  REQUIRE(mfn::alignment_transform(lm, 224, 224, t).is_ok());
  const double identity[6] = {1, 0, 0, 0, 1, 0};
  expect_transform("2x template at 224", t, identity);

  // A rotated face into 224: still lands on the scaled template.
  similar_template(0.8, -1.1, 140, 90, lm);
  REQUIRE(mfn::alignment_transform(lm, 224, 224, t).is_ok());
  expect_maps_template("rotated into 224", t, lm, 2, 2);
}

// Real LFW landmarks (Aaron_Eckhart_0001, deep-funneled, 250x250) against
// the reference numbers of skimage's Umeyama in float64.
void test_insightface_reference() {
  const float lm[10] = {105.08f, 108.66f, 144.99f, 108.41f, 125.59f,
                        137.97f, 109.01f, 155.94f, 142.54f, 155.51f};
  float m[6];
  REQUIRE(mfn::umeyama_similarity(lm, kArcFaceTemplate, 5, m).is_ok());
  const double forward[6] = {0.8611272079, -0.0064986585, -51.1291012007,
                             0.0064986585, 0.8611272079,  -43.7009589748};
  expect_transform("reference forward", m, forward);
  float t[6];
  REQUIRE(mfn::alignment_transform(lm, 112, 112, t).is_ok());
  const double inverse[6] = {1.1612024815, 0.008763233,  59.7542008794,
                             -0.008763233, 1.1612024815, 50.2976057791};
  expect_transform("reference inverse", t, inverse);
}

double residual(const float* src, const float* dst, int n, const double m[6]) {
  double r = 0;
  for (int i = 0; i < n; ++i) {
    const double x = m[0] * src[2 * i] + m[1] * src[2 * i + 1] + m[2];
    const double y = m[3] * src[2 * i] + m[4] * src[2 * i + 1] + m[5];
    r += (x - dst[2 * i]) * (x - dst[2 * i]) + (y - dst[2 * i + 1]) * (y - dst[2 * i + 1]);
  }
  return r;
}

// No similarity [a -b tx; b a ty] near m fits better: m is a least-squares
// minimum over proper similarities.
void expect_least_squares(const char* what, const float* src, const float* dst, int n,
                          const float mf[6]) {
  const double m[6] = {mf[0], mf[1], mf[2], mf[3], mf[4], mf[5]};
  const double best = residual(src, dst, n, m);
  const double steps[4] = {1e-3, 1e-3, 1e-2, 1e-2};
  for (int p = 0; p < 4; ++p) {
    for (int sign = -1; sign <= 1; sign += 2) {
      double a = m[0], b = m[3], tx = m[2], ty = m[5];
      double* params[4] = {&a, &b, &tx, &ty};
      *params[p] += sign * steps[p];
      const double trial[6] = {a, -b, tx, b, a, ty};
      CHECK_MSG(residual(src, dst, n, trial) >= best - 1e-6,
                "%s: moving parameter %d by %+g improves the fit", what, p, sign * steps[p]);
    }
  }
}

void test_reflection_is_not_fitted() {
  // A mirror image with the labels kept: only a reflection would fit it
  // exactly; the estimate must stay a proper rotation (det > 0).
  const float lm[10] = {105.08f, 108.66f, 144.99f, 108.41f, 125.59f,
                        137.97f, 109.01f, 155.94f, 142.54f, 155.51f};
  float mirrored[10];
  for (int i = 0; i < 5; ++i) {
    mirrored[2 * i] = 249 - lm[2 * i];
    mirrored[2 * i + 1] = lm[2 * i + 1];
  }
  float m[6];
  REQUIRE(mfn::umeyama_similarity(mirrored, kArcFaceTemplate, 5, m).is_ok());
  CHECK(m[0] * m[4] - m[1] * m[3] > 0);
  CHECK(near(m[0], m[4]) && near(m[1], -m[3]));
  const double forward[6] = {0.2010652559, 0.0064984061, 30.3167141993,
                             -0.0064984061, 0.2010652559, 45.9021146006};
  expect_transform("mirrored forward", m, forward);
  expect_least_squares("mirrored", mirrored, kArcFaceTemplate, 5, m);

  float t[6];
  REQUIRE(mfn::alignment_transform(mirrored, 112, 112, t).is_ok());
  CHECK(t[0] * t[4] - t[1] * t[3] > 0);
  const double inverse[6] = {4.9683199135, -0.1605755311, -143.2523784398,
                             0.1605755311, 4.9683199135,  -232.9245125258};
  expect_transform("mirrored inverse", t, inverse);
}

void test_noisy_fit_is_least_squares() {
  // Pseudo-random noise on a known similarity: the estimate is close to it
  // and no neighbour fits better.
  float lm[10];
  similar_template(1.3, 0.4, 20, 30, lm);
  unsigned state = 12345;
  for (int i = 0; i < 10; ++i) {
    state = state * 1103515245u + 12345u;
    lm[i] += static_cast<float>(((state >> 16) % 2001) / 1000.0 - 1.0);
  }
  float m[6];
  REQUIRE(mfn::umeyama_similarity(kArcFaceTemplate, lm, 5, m).is_ok());
  expect_least_squares("noisy", kArcFaceTemplate, lm, 5, m);
  CHECK(std::fabs(std::hypot(m[0], m[3]) - 1.3) < 0.05);
  CHECK(std::fabs(std::atan2(m[3], m[0]) - 0.4) < 0.05);
}

void expect_rejected(const char* what, const float* lm, Code code = Code::invalid_landmarks) {
  float t[6] = {7, 7, 7, 7, 7, 7};
  const mfn::Status s = mfn::alignment_transform(lm, 112, 112, t);
  CHECK_MSG(s.code() == code, "%s: got %s (%s)", what, mfn::code_name(s.code()),
            s.message().c_str());
  CHECK_MSG(!s.message().empty(), "%s: no message", what);
}

void test_errors() {
  expect_rejected("null", nullptr);

  float lm[10];
  for (int k = 0; k < 10; ++k) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(),
                      std::numeric_limits<float>::infinity(),
                      -std::numeric_limits<float>::infinity()}) {
      for (int i = 0; i < 10; ++i) lm[i] = kArcFaceTemplate[i];
      lm[k] = bad;
      expect_rejected("non-finite", lm);
    }
  }

  for (int i = 0; i < 10; ++i) lm[i] = kArcFaceTemplate[i];
  lm[2] = lm[0] + 0.5f;  // right eye half a pixel from the left eye
  lm[3] = lm[1];
  expect_rejected("eyes coincident", lm);

  for (int i = 0; i < 5; ++i) {
    lm[2 * i] = 80.25f;
    lm[2 * i + 1] = 41.5f;
  }
  expect_rejected("all points at one spot", lm);

  for (int i = 0; i < 5; ++i) {  // on the line y = 2x + 3, eyes far apart
    lm[2 * i] = 10.0f + 7.0f * i;
    lm[2 * i + 1] = 2 * lm[2 * i] + 3;
  }
  expect_rejected("collinear", lm);

  for (int i = 0; i < 10; ++i) lm[i] = kArcFaceTemplate[i] * 1e9f;
  expect_rejected("scale near 0", lm);

  float t[6];
  CHECK(mfn::alignment_transform(kArcFaceTemplate, 0, 112, t).code() == Code::invalid_argument);
  CHECK(mfn::alignment_transform(kArcFaceTemplate, 112, -1, t).code() == Code::invalid_argument);
  CHECK(mfn::alignment_transform(kArcFaceTemplate, 112, 112, nullptr).code() ==
        Code::invalid_argument);

  float m[6];
  CHECK(mfn::umeyama_similarity(kArcFaceTemplate, kArcFaceTemplate, 1, m).code() ==
        Code::invalid_landmarks);
  CHECK(mfn::umeyama_similarity(nullptr, kArcFaceTemplate, 5, m).code() ==
        Code::invalid_landmarks);
  CHECK(mfn::umeyama_similarity(kArcFaceTemplate, nullptr, 5, m).code() ==
        Code::invalid_landmarks);
  float point[10];
  for (int i = 0; i < 10; ++i) point[i] = 3.0f;
  CHECK(mfn::umeyama_similarity(kArcFaceTemplate, point, 5, m).code() ==  // scale 0
        Code::invalid_landmarks);
  CHECK(mfn::umeyama_similarity(point, kArcFaceTemplate, 5, m).code() ==  // no spread
        Code::invalid_landmarks);
}

}  // namespace

int main() {
  test_identity();
  test_pure_scale();
  test_rotation_90_about_point();
  test_translation();
  test_scale_rotation_translation();
  test_other_output_size();
  test_insightface_reference();
  test_reflection_is_not_fitted();
  test_noisy_fit_is_least_squares();
  test_errors();
  std::printf("align_test: %s\n", mfn_test::test_exit_code() == 0 ? "ok" : "FAILED");
  return mfn_test::test_exit_code();
}
