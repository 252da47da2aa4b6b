// 4-wide float vectors in GCC/Clang vector extensions: the portable kernels
// (SSE2 on baseline x86-64, NEON on arm64, scalar code elsewhere).
#pragma once

#include <cstring>

namespace mfn {
namespace cpu {
namespace {

struct VecGeneric {
  typedef float reg __attribute__((vector_size(16)));
  static constexpr int width = 4;
  static reg load(const float* p) {
    reg v;
    std::memcpy(&v, p, sizeof v);
    return v;
  }
  static void store(float* p, reg v) { std::memcpy(p, &v, sizeof v); }
  // The first n (0 < n < width) lanes; the others read as 0 and are never written.
  static reg load_n(const float* p, int n) {
    reg v = {0, 0, 0, 0};
    std::memcpy(&v, p, sizeof(float) * n);
    return v;
  }
  static void store_n(float* p, reg v, int n) { std::memcpy(p, &v, sizeof(float) * n); }
  static reg set1(float x) { return reg{x, x, x, x}; }
  static reg add(reg a, reg b) { return a + b; }
  static reg fma(reg a, reg b, reg c) { return a * b + c; }
  static reg max(reg a, reg b) { return a > b ? a : b; }
  static reg prelu(reg x, reg slope) { return x < 0 ? x * slope : x; }
};

}  // namespace
}  // namespace cpu
}  // namespace mfn
