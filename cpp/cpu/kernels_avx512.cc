// AVX-512 instantiation of the kernels (compiled with AVX-512 flags; only
// called after isa.cc has checked the CPU supports them).
#if defined(MFN_X86)

#include "cpu/vec_avx512.h"
#include "cpu/dwconv_kernel.h"
#include "cpu/gemm_kernel.h"

namespace mfn {
namespace cpu {

// 14 rows x 32 columns: 28 accumulators + 2 B vectors + 1 broadcast of the
// 32 zmm registers.
const Kernels& kernels_avx512() {
  static const Kernels k{"avx512", 32, 14, gemm<VecAvx512, 14, 2>, dwconv<VecAvx512, 2>};
  return k;
}

}  // namespace cpu
}  // namespace mfn

#endif  // MFN_X86
