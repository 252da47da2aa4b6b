// AVX2+FMA score kernels (compiled with -mavx2 -mfma -mf16c; only called
// after dispatch.cc has checked the CPU supports them).
#if defined(MFN_X86)

#include <immintrin.h>

#include "gallery/score_tiles.h"

namespace mfn {
namespace gallery {

namespace {

double hsum(__m256d v) {
  __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
  return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

double hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

double hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
  return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

struct F32Ops {
  using QueryT = double;
  using RowT = float;
  using Acc = __m256d;
  using Row = __m256d;
  static constexpr int step = 4;
  static Acc zero() { return _mm256_setzero_pd(); }
  static Row load_row(const float* p) { return _mm256_cvtps_pd(_mm_load_ps(p)); }
  static Acc madd(Acc acc, const double* q, Row g) { return _mm256_fmadd_pd(_mm256_load_pd(q), g, acc); }
  static double reduce(Acc acc) { return hsum(acc); }
};

struct F16Ops {
  using QueryT = float;
  using RowT = uint16_t;
  using Acc = __m256;
  using Row = __m256;
  static constexpr int step = 8;
  static Acc zero() { return _mm256_setzero_ps(); }
  static Row load_row(const uint16_t* p) {
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static Acc madd(Acc acc, const float* q, Row g) { return _mm256_fmadd_ps(_mm256_load_ps(q), g, acc); }
  static double reduce(Acc acc) { return hsum(acc); }
};

struct I8Ops {
  using QueryT = int16_t;
  using RowT = int8_t;
  using Acc = __m256i;
  using Row = __m256i;
  static constexpr int step = 16;
  static Acc zero() { return _mm256_setzero_si256(); }
  static Row load_row(const int8_t* p) {
    return _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
  }
  static Acc madd(Acc acc, const int16_t* q, Row g) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(q)), g));
  }
  static double reduce(Acc acc) { return hsum(acc); }
};

// 3 queries x 3 rows: 9 accumulators, 3 widened rows and one query load of
// the 16 ymm registers; one query x 6 rows: 6 + 6 + 1.
void score_f32(const ScoreArgs& a) { score_all<F32Ops, 3, 3, 6>(a); }
void score_f16(const ScoreArgs& a) { score_all<F16Ops, 3, 3, 6>(a); }
void score_i8(const ScoreArgs& a) { score_all<I8Ops, 3, 3, 6>(a); }

}  // namespace

const Kernels& kernels_avx2() {
  static const Kernels k{"avx2", score_f32, score_f16, score_i8};
  return k;
}

}  // namespace gallery
}  // namespace mfn

#endif  // MFN_X86
