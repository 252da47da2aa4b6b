// core/half.h against the processor's own conversion (F16C), exhaustively:
// every one of the 2^32 float bit patterns to binary16 (round to nearest
// even; NaN only as NaN of the same sign, payloads differ) and every
// binary16 back to float. Skips where F16C is missing.
#include "core/half.h"

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <thread>
#include <vector>

#include "tests/check.h"

#if defined(__x86_64__)
#include <immintrin.h>

namespace {

bool is_nan_half(uint16_t h) { return (h & 0x7c00u) == 0x7c00u && (h & 0x3ffu) != 0; }

// Mismatches among the floats [first, first + 2^28), 8 at a time.
__attribute__((target("avx,f16c"))) uint64_t check_floats(uint32_t first, uint32_t* example) {
  uint64_t bad = 0;
  alignas(32) uint32_t bits[8];
  alignas(16) uint16_t hw[8];
  for (uint64_t base = first; base < uint64_t{first} + (uint64_t{1} << 28); base += 8) {
    for (int k = 0; k < 8; ++k) bits[k] = static_cast<uint32_t>(base + k);
    const __m256 v = _mm256_load_ps(reinterpret_cast<const float*>(bits));
    _mm_store_si128(reinterpret_cast<__m128i*>(hw), _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (int k = 0; k < 8; ++k) {
      const uint16_t mine = mfn::float_to_half(mfn::half_bits::float_of(bits[k]));
      const bool same = is_nan_half(hw[k]) ? is_nan_half(mine) && (mine & 0x8000u) == (hw[k] & 0x8000u) : mine == hw[k];
      if (!same && bad++ == 0) *example = bits[k];
    }
  }
  return bad;
}

__attribute__((target("avx,f16c"))) uint64_t check_halves(uint16_t* example) {
  uint64_t bad = 0;
  for (uint32_t h = 0; h < 0x10000u; ++h) {
    const float hw = _cvtsh_ss(static_cast<uint16_t>(h));
    const float mine = mfn::half_to_float(static_cast<uint16_t>(h));
    const bool same = hw != hw ? mine != mine : mfn::half_bits::bits_of(hw) == mfn::half_bits::bits_of(mine);
    if (!same && bad++ == 0) *example = static_cast<uint16_t>(h);
  }
  return bad;
}

}  // namespace

int main() {
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("f16c")) mfn_test::skip("this processor has no F16C to compare against");
  uint16_t half_example = 0;
  const uint64_t bad_halves = check_halves(&half_example);
  CHECK_MSG(bad_halves == 0, "%llu halves differ, the first 0x%04x", static_cast<unsigned long long>(bad_halves),
            half_example);
  // 16 parts over the cores (a few seconds each on one).
  uint64_t bad[16] = {};
  uint32_t examples[16] = {};
  std::atomic<uint32_t> next{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < std::max(1u, std::thread::hardware_concurrency()); ++t) {
    threads.emplace_back([&] {
      for (uint32_t part; (part = next.fetch_add(1)) < 16;) bad[part] = check_floats(part << 28, &examples[part]);
    });
  }
  for (std::thread& t : threads) t.join();
  uint64_t bad_floats = 0;
  uint32_t float_example = 0;
  for (int part = 15; part >= 0; --part) {
    if (bad[part]) float_example = examples[part];
    bad_floats += bad[part];
  }
  CHECK_MSG(bad_floats == 0, "%llu floats convert differently, the first with bits 0x%08x",
            static_cast<unsigned long long>(bad_floats), float_example);
  std::printf("2^32 floats and 2^16 halves: %llu and %llu differences from F16C\n",
              static_cast<unsigned long long>(bad_floats), static_cast<unsigned long long>(bad_halves));
  return mfn_test::test_exit_code();
}
#else
int main() { mfn_test::skip("the reference conversion (F16C) is x86-64 only"); }
#endif
