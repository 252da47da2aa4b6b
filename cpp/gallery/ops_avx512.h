// The AVX-512 operations of score_tiles.h for each stored precision.
// Included only by files compiled with AVX-512 flags. Internal linkage (an
// unnamed namespace) on purpose: an inline function or template
// instantiation with external linkage compiled with AVX-512 flags could be
// the copy the linker keeps for callers on CPUs without AVX-512.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace mfn {
namespace gallery {
namespace avx512 {
namespace {

struct F32Ops {
  using QueryT = double;
  using RowT = float;
  using Acc = __m512d;
  using Row = __m512d;
  static constexpr int step = 8;
  static Acc zero() { return _mm512_setzero_pd(); }
  static Row load_row(const float* p) { return _mm512_cvtps_pd(_mm256_load_ps(p)); }
  static Acc madd(Acc acc, const double* q, Row g) { return _mm512_fmadd_pd(_mm512_load_pd(q), g, acc); }
  static double reduce(Acc acc) { return _mm512_reduce_add_pd(acc); }
};

struct F16Ops {
  using QueryT = float;
  using RowT = uint16_t;
  using Acc = __m512;
  using Row = __m512;
  static constexpr int step = 16;
  static Acc zero() { return _mm512_setzero_ps(); }
  static Row load_row(const uint16_t* p) {
    return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static Acc madd(Acc acc, const float* q, Row g) { return _mm512_fmadd_ps(_mm512_load_ps(q), g, acc); }
  static double reduce(Acc acc) { return _mm512_reduce_add_ps(acc); }
};

struct I8Ops {
  using QueryT = int16_t;
  using RowT = int8_t;
  using Acc = __m512i;
  using Row = __m512i;
  static constexpr int step = 32;
  static Acc zero() { return _mm512_setzero_si512(); }
  static Row load_row(const int8_t* p) {
    return _mm512_cvtepi8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
  }
  static Acc madd(Acc acc, const int16_t* q, Row g) {
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_load_si512(q), g));
  }
  static double reduce(Acc acc) { return _mm512_reduce_add_epi32(acc); }
};

}  // namespace
}  // namespace avx512
}  // namespace gallery
}  // namespace mfn
