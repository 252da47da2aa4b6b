// Portable score kernels: the reference the SIMD tables are tested against,
// and what runs on a CPU without AVX2 (or another architecture).
#include "gallery/encode.h"
#include "gallery/kernels.h"

namespace mfn {
namespace gallery {

namespace {

template <typename QueryT, typename RowT, typename AccT, typename Widen>
void score(const ScoreArgs& a, Widen widen) {
  for (int q = 0; q < a.nq; ++q) {
    const QueryT* query = reinterpret_cast<const QueryT*>(static_cast<const uint8_t*>(a.queries) + q * a.query_stride);
    for (int r = 0; r < a.nrows; ++r) {
      const RowT* row = reinterpret_cast<const RowT*>(a.rows + r * a.row_stride);
      AccT acc = 0;
      for (int d = 0; d < a.dims; ++d) acc += static_cast<AccT>(query[d]) * widen(row[d]);
      a.out[q * a.ld + r] = static_cast<double>(acc);
    }
  }
}

void score_f32(const ScoreArgs& a) {
  score<double, float, double>(a, [](float v) { return static_cast<double>(v); });
}
void score_f16(const ScoreArgs& a) {
  score<float, uint16_t, float>(a, [](uint16_t v) { return half_to_float(v); });
}
void score_i8(const ScoreArgs& a) {
  score<int16_t, int8_t, int32_t>(a, [](int8_t v) { return static_cast<int32_t>(v); });
}

}  // namespace

const Kernels& kernels_generic() {
  static const Kernels k{"scalar", score_f32, score_f16, score_i8};
  return k;
}

}  // namespace gallery
}  // namespace mfn
