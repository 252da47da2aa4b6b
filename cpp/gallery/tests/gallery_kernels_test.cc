// The gallery's building blocks: every SIMD score table against the
// portable one, binary16 conversions, CRC-32C.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

#include "gallery/crc32c.h"
#include "gallery/encode.h"
#include "gallery/kernels.h"
#include "tests/check.h"

using namespace mfn;
using namespace mfn::gallery;

namespace {

struct Aligned {
  explicit Aligned(size_t bytes) : storage(bytes + 64, 0) {
    uintptr_t base = reinterpret_cast<uintptr_t>(storage.data());
    data = storage.data() + (64 - base % 64) % 64;
  }
  std::vector<uint8_t> storage;
  uint8_t* data;
};

// Rows and queries of `precision` with random unit vectors.
void check_tables(Precision precision, int dims, int nq, int nrows) {
  std::mt19937 rng(dims * 131 + nq * 7 + nrows);
  std::normal_distribution<float> normal;
  const size_t rb = row_bytes(precision, dims);
  Aligned rows(rb * nrows);
  std::vector<float> x(dims);
  std::vector<double> u;
  for (int r = 0; r < nrows; ++r) {
    for (float& v : x) v = normal(rng);
    REQUIRE(unit_vector(x.data(), dims, &u));
    encode_row(precision, u, rows.data + r * rb);
  }
  std::vector<float> qs(static_cast<size_t>(nq) * dims);
  for (float& v : qs) v = normal(rng);
  EncodedQueries eq;
  REQUIRE(encode_queries(precision, dims, qs.data(), nq, &eq).is_ok());

  const Kernels* tables[8];
  const int n = available_kernels(tables, 8);
  std::vector<double> expected(static_cast<size_t>(nq) * nrows), got(expected.size());
  for (int t = 0; t < n; ++t) {
    ScoreArgs a;
    a.queries = eq.data;
    a.query_stride = eq.stride;
    a.nq = nq;
    a.rows = rows.data;
    a.row_stride = rb;
    a.nrows = nrows;
    a.dims = static_cast<int>(padded_dims(dims));
    a.ld = nrows;
    a.out = t == 0 ? expected.data() : got.data();
    const Kernels& k = *tables[t];
    ScoreFn fn = precision == Precision::float32 ? k.float32 : precision == Precision::float16 ? k.float16 : k.int8;
    fn(a);
    if (t == 0) continue;
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, std::fabs(got[i] - expected[i]));
    // float32 rows: double sums in another order; float16: float sums;
    // int8: exact integers.
    const double tolerance = precision == Precision::float32 ? 1e-13 : precision == Precision::float16 ? 2e-5 : 0;
    CHECK_MSG(worst <= tolerance, "%s %s dims %d nq %d rows %d: worst difference %g", k.name,
              precision_name(precision), dims, nq, nrows, worst);
  }
}

void test_tables_agree() {
  const Kernels* tables[8];
  const int n = available_kernels(tables, 8);
  std::printf("score tables:");
  for (int i = 0; i < n; ++i) std::printf(" %s", tables[i]->name);
  std::printf(" (best: %s)\n", best_kernels().name);
  for (Precision p : {Precision::float32, Precision::float16, Precision::int8}) {
    for (int dims : {512, 100, 1}) {
      for (int nq : {1, 3, 4, 5, 9}) {
        for (int nrows : {1, 2, 3, 7, 64}) check_tables(p, dims, nq, nrows);
      }
    }
  }
}

void test_half_conversions() {
  // Every finite half survives half -> float -> half.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    if ((h & 0x7c00) == 0x7c00) continue;  // inf, NaN
    CHECK_MSG(float_to_half(half_to_float(static_cast<uint16_t>(h))) == h, "half 0x%04x", h);
  }
  CHECK(float_to_half(1e6f) == 0x7c00);
  CHECK(float_to_half(-INFINITY) == 0xfc00);
  CHECK((float_to_half(NAN) & 0x7c00) == 0x7c00 && (float_to_half(NAN) & 0x3ff) != 0);
  // Round to nearest, ties to even: random floats in the range of unit
  // vectors' components, and the midpoints between neighbouring halves.
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  for (int i = 0; i < 200000; ++i) {
    float f = uniform(rng) * (i % 2 ? 1.0f : 1e-5f);
    uint16_t h = float_to_half(f);
    double err = std::fabs(half_to_float(h) - static_cast<double>(f));
    for (int step : {-1, 1}) {
      uint16_t other = static_cast<uint16_t>(h + step);
      if ((other & 0x7fff) >= 0x7c00 || ((other ^ h) & 0x8000)) continue;
      CHECK_MSG(err <= std::fabs(half_to_float(other) - static_cast<double>(f)), "float %.9g -> 0x%04x", f, h);
    }
  }
  for (uint16_t h = 0x3c00; h < 0x3c10; ++h) {  // [1, 1 + 16 ulp)
    float mid = (half_to_float(h) + half_to_float(static_cast<uint16_t>(h + 1))) / 2;
    uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : h;
    CHECK_MSG(float_to_half(mid) == even, "midpoint above 0x%04x", h);
  }
}

void test_crc32c() {
  const char* check = "123456789";
  CHECK(crc32c_portable(0, check, 9) == 0xe3069283u);
  CHECK(crc32c(0, check, 9) == 0xe3069283u);
  std::vector<uint8_t> data(100003);
  std::mt19937 rng(3);
  for (uint8_t& b : data) b = static_cast<uint8_t>(rng());
  for (size_t len : {0ul, 1ul, 7ul, 8ul, 9ul, 4096ul, 100003ul}) {
    CHECK(crc32c(0, data.data(), len) == crc32c_portable(0, data.data(), len));
  }
  // Extending in pieces equals one pass.
  CHECK(crc32c(crc32c(0, data.data(), 1001), data.data() + 1001, 99002) == crc32c_portable(0, data.data(), 100003));
}

}  // namespace

int main() {
  test_tables_agree();
  test_half_conversions();
  test_crc32c();
  return mfn_test::test_exit_code();
}
