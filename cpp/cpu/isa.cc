#include "cpu/isa.h"

#include <cstdlib>
#include <cstring>
#include <initializer_list>

namespace mfn {
namespace cpu {

namespace {

bool cpu_has(Isa isa) {
#if defined(MFN_X86)
  __builtin_cpu_init();
  switch (isa) {
    case Isa::avx512:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    case Isa::avx2:
      return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case Isa::generic:
      return true;
  }
  return false;
#else
  return isa == Isa::generic;
#endif
}

// The cap from MFN_CPU_ISA, or avx512 (no cap) when unset or unknown.
Isa isa_cap() {
  const char* env = std::getenv("MFN_CPU_ISA");
  if (env == nullptr) return Isa::avx512;
  if (std::strcmp(env, "generic") == 0) return Isa::generic;
  if (std::strcmp(env, "avx2") == 0) return Isa::avx2;
  return Isa::avx512;
}

}  // namespace

const Kernels* kernels_for(Isa isa) {
  if (!cpu_has(isa)) return nullptr;
  switch (isa) {
#if defined(MFN_X86)
    case Isa::avx512:
      return &kernels_avx512();
    case Isa::avx2:
      return &kernels_avx2();
#endif
    case Isa::generic:
      return &kernels_generic();
    default:
      return nullptr;
  }
}

const Kernels& best_kernels() {
  const Isa cap = isa_cap();
  for (Isa isa : {Isa::avx512, Isa::avx2}) {
    if (static_cast<int>(isa) > static_cast<int>(cap)) continue;
    if (const Kernels* k = kernels_for(isa)) return *k;
  }
  return kernels_generic();
}

}  // namespace cpu
}  // namespace mfn
