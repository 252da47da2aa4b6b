// 8-wide float vector operations for the AVX2+FMA kernels. Included only by
// *_avx2.cc; internal linkage (see vec_avx512.h).
#pragma once

#include <immintrin.h>

namespace mfn {
namespace cpu {
namespace {

struct VecAvx2 {
  using reg = __m256;
  static constexpr int width = 8;
  static reg load(const float* p) { return _mm256_loadu_ps(p); }
  static void store(float* p, reg v) { _mm256_storeu_ps(p, v); }
  // The first n (0 < n < width) lanes; the others read as 0 and are never written.
  static __m256i lanes(int n) { return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)); }
  static reg load_n(const float* p, int n) { return _mm256_maskload_ps(p, lanes(n)); }
  static void store_n(float* p, reg v, int n) { _mm256_maskstore_ps(p, lanes(n), v); }
  static reg set1(float x) { return _mm256_set1_ps(x); }
  static reg add(reg a, reg b) { return _mm256_add_ps(a, b); }
  static reg fma(reg a, reg b, reg c) { return _mm256_fmadd_ps(a, b, c); }
  static reg max(reg a, reg b) { return _mm256_max_ps(a, b); }
  static reg prelu(reg x, reg slope) {
    const reg neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    return _mm256_blendv_ps(x, _mm256_mul_ps(x, slope), neg);
  }
};

}  // namespace
}  // namespace cpu
}  // namespace mfn
