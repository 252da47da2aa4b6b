// Portable instantiation of the kernels: 4-wide vector extensions, built
// with the baseline flags of the target (any x86-64, arm64).
#include "cpu/vec_generic.h"
#include "cpu/dwconv_kernel.h"
#include "cpu/gemm_kernel.h"

namespace mfn {
namespace cpu {

const Kernels& kernels_generic() {
  static const Kernels k{"generic", 8, 4, gemm<VecGeneric, 4, 2>, dwconv<VecGeneric, 2>};
  return k;
}

}  // namespace cpu
}  // namespace mfn
