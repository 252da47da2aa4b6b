// IEEE binary16 conversions in software, round to nearest even, for code
// that packs FP16 on the host: the gallery's float16 rows and the CUDA
// plugin's weights. Header-only so that the plugin, which links nothing of
// the engine, shares it. Any thread.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>

namespace mfn {
namespace half_bits {

inline uint32_t bits_of(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

inline float float_of(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

}  // namespace half_bits

// Overflow gives infinity, NaN a quiet NaN (0x7e00 with the sign). Normal
// halves by adding the rounding bias to the float's bits, subnormal ones by
// letting the FPU align the mantissa.
inline uint16_t float_to_half(float value) {
  using half_bits::bits_of;
  using half_bits::float_of;
  uint32_t u = bits_of(value);
  const uint16_t sign = static_cast<uint16_t>((u >> 16) & 0x8000u);
  u &= 0x7fffffffu;
  if (u >= 0x47800000u) return sign | (u > 0x7f800000u ? 0x7e00 : 0x7c00);  // overflow, inf, NaN
  if (u < 0x38800000u) {                                                     // below 2^-14: subnormal
    const uint32_t magic = 0x3f000000u;                                      // 0.5f: ulp 2^-24
    return sign | static_cast<uint16_t>(bits_of(float_of(u) + float_of(magic)) - magic);
  }
  const uint32_t odd = (u >> 13) & 1u;
  u += 0xc8000fffu + odd;  // rebias the exponent (-112 << 23) and round
  return sign | static_cast<uint16_t>(u >> 13);
}

inline float half_to_float(uint16_t half) {
  using half_bits::bits_of;
  using half_bits::float_of;
  const uint32_t sign = static_cast<uint32_t>(half & 0x8000u) << 16;
  const uint32_t exponent = (half >> 10) & 0x1fu;
  const uint32_t mantissa = half & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = std::ldexp(static_cast<float>(mantissa), -24);
    return float_of(sign | bits_of(magnitude));
  }
  if (exponent == 31) return float_of(sign | 0x7f800000u | (mantissa << 13));
  return float_of(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

}  // namespace mfn
