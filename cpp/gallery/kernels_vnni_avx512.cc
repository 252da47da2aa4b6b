// AVX-512 VNNI int8 kernel: vpdpwssd multiplies int16 pairs and adds them to
// the int32 accumulator in one instruction (vpmaddwd + vpaddd without VNNI).
// float32 and float16 use the plain AVX-512 kernels. Compiled with
// -mavx512vnni in a file of its own, so that no other kernel picks up VNNI
// instructions from the compiler (named *_avx512.cc like every file that
// gets ISA flags).
#if defined(MFN_X86)

#include "gallery/ops_avx512.h"
#include "gallery/score_tiles.h"

namespace mfn {
namespace gallery {

namespace {

// The plain AVX-512 int8 operations with the VNNI multiply-add.
struct I8VnniOps : avx512::I8Ops {
  static Acc madd(Acc acc, const int16_t* q, Row g) { return _mm512_dpwssd_epi32(acc, _mm512_load_si512(q), g); }
};

void score_i8(const ScoreArgs& a) { score_all<I8VnniOps, 2, 8, 8>(a); }

}  // namespace

const Kernels& kernels_avx512_vnni() {
  static const Kernels k{"avx512-vnni", kernels_avx512().float32, kernels_avx512().float16, score_i8};
  return k;
}

}  // namespace gallery
}  // namespace mfn

#endif  // MFN_X86
