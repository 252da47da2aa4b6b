// AVX-512 instantiation of the kernels (compiled with AVX-512 flags; only
// called after isa.cc has checked the CPU supports them).
#if defined(MFN_X86)

#include "cpu/vec_avx2.h"
#include "cpu/vec_avx512.h"
#include "cpu/dwconv_kernel.h"
#include "cpu/gemm_kernel.h"
#include "cpu/pool_kernel.h"

namespace mfn {
namespace cpu {

namespace {

// Channel counts that are a multiple of 8 but not of 16 (the detector's 24)
// run 8 wide: all full vectors through the register-blocked 3x3 path
// rather than 16 + a masked 8-lane tail through the generic one.
void dwconv_avx512(const DwArgs& d, int oy_begin, int oy_end) {
  if (d.c % 16 != 0 && d.c % 8 == 0) return dwconv<VecAvx2, 2>(d, oy_begin, oy_end);
  dwconv<VecAvx512, 2>(d, oy_begin, oy_end);
}

}  // namespace

// 14 rows x 32 columns: 28 accumulators + 2 B vectors + 1 broadcast of the
// 32 zmm registers.
const Kernels& kernels_avx512() {
  static const Kernels k{"avx512", 32, 14, gemm<VecAvx512, 14, 2>, dwconv_avx512, maxpool<VecAvx512>};
  return k;
}

}  // namespace cpu
}  // namespace mfn

#endif  // MFN_X86
