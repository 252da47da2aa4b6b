// 16-wide float vector operations for the AVX-512 kernels. Included only by
// *_avx512.cc (compiled with AVX-512 flags); internal linkage so that no
// AVX-512 code can be picked by the linker for another ISA's translation unit.
#pragma once

#include <immintrin.h>

namespace mfn {
namespace cpu {
namespace {

struct VecAvx512 {
  using reg = __m512;
  static constexpr int width = 16;
  static reg load(const float* p) { return _mm512_loadu_ps(p); }
  static void store(float* p, reg v) { _mm512_storeu_ps(p, v); }
  // The first n (0 < n < width) lanes; the others read as 0 and are never written.
  static reg load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p); }
  static void store_n(float* p, reg v, int n) { _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v); }
  static reg set1(float x) { return _mm512_set1_ps(x); }
  static reg add(reg a, reg b) { return _mm512_add_ps(a, b); }
  // a * b + c
  static reg fma(reg a, reg b, reg c) { return _mm512_fmadd_ps(a, b, c); }
  // x < 0 ? x * slope : x, exactly.
  static reg max(reg a, reg b) { return _mm512_max_ps(a, b); }
  static reg prelu(reg x, reg slope) {
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    return _mm512_mask_mul_ps(x, neg, x, slope);
  }
};

}  // namespace
}  // namespace cpu
}  // namespace mfn
