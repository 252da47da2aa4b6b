// AVX2+FMA instantiation of the kernels (compiled with -mavx2 -mfma; only
// called after isa.cc has checked the CPU supports them).
#if defined(MFN_X86)

#include "cpu/vec_avx2.h"
#include "cpu/dwconv_kernel.h"
#include "cpu/gemm_kernel.h"
#include "cpu/pool_kernel.h"

namespace mfn {
namespace cpu {

// 6 rows x 16 columns: 12 accumulators + 2 B vectors + 1 broadcast of the
// 16 ymm registers.
const Kernels& kernels_avx2() {
  static const Kernels k{"avx2", 16, 6, gemm<VecAvx2, 6, 2>, dwconv<VecAvx2, 2>, maxpool<VecAvx2>};
  return k;
}

}  // namespace cpu
}  // namespace mfn

#endif  // MFN_X86
