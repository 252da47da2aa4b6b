// AVX-512 score kernels (compiled with AVX-512 flags; only called after
// dispatch.cc has checked the CPU supports them). float32 rows are widened
// to double (vcvtps2pd), float16 rows to float (vcvtph2ps), int8 rows to
// int16 and multiplied with vpmaddwd.
#if defined(MFN_X86)

#include "gallery/ops_avx512.h"
#include "gallery/score_tiles.h"

namespace mfn {
namespace gallery {

namespace {

using avx512::F16Ops;
using avx512::F32Ops;
using avx512::I8Ops;

// 4 queries x 3 rows: 12 accumulators, 3 widened rows and one query load of
// the 32 zmm registers.
void score_f32(const ScoreArgs& a) { score_all<F32Ops, 4, 3>(a); }
void score_f16(const ScoreArgs& a) { score_all<F16Ops, 4, 3>(a); }
void score_i8(const ScoreArgs& a) { score_all<I8Ops, 4, 3>(a); }

}  // namespace

const Kernels& kernels_avx512() {
  static const Kernels k{"avx512", score_f32, score_f16, score_i8};
  return k;
}

}  // namespace gallery
}  // namespace mfn

#endif  // MFN_X86
