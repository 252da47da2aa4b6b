// Runtime ISA dispatch: the same binary runs on any x86-64 (or arm64) and
// uses AVX-512 or AVX2+FMA kernels where the CPU has them.
#pragma once

#include "cpu/kernels.h"

namespace mfn {
namespace cpu {

enum class Isa { generic, avx2, avx512 };

// The kernels for `isa`, or nullptr when this build or this CPU lacks it.
const Kernels* kernels_for(Isa isa);

// The best kernels the CPU supports. MFN_CPU_ISA=generic|avx2|avx512 in the
// environment caps the choice (for comparisons and for testing the
// fallbacks on a big CPU).
const Kernels& best_kernels();

}  // namespace cpu
}  // namespace mfn
