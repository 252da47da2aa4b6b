// Portable instantiation of the kernels: 4-wide vector extensions, built
// with the baseline flags of the target (any x86-64, arm64).
#include "cpu/vec_generic.h"
#include "cpu/dwconv_kernel.h"
#include "cpu/gemm_kernel.h"
#include "cpu/pool_kernel.h"

namespace mfn {
namespace cpu {

// 6 rows x 8 columns: 12 accumulators + 2 B vectors + 1 broadcast of the
// 16 SSE/NEON registers of baseline x86-64.
const Kernels& kernels_generic() {
  static const Kernels k{"generic", 8, 6, gemm<VecGeneric, 6, 2>, dwconv<VecGeneric, 2>, maxpool<VecGeneric>};
  return k;
}

}  // namespace cpu
}  // namespace mfn
