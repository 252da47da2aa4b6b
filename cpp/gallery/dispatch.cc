// Picks the gallery's score kernels at run time. The CPU backend's dispatch
// (cpu/isa.h) already knows which of AVX-512 and AVX2 this CPU and build
// support and honours MFN_CPU_ISA; the gallery adds VNNI on top of AVX-512.
#include <cstring>

#include "cpu/isa.h"
#include "gallery/kernels.h"

namespace mfn {
namespace gallery {

namespace {

bool has_avx512_vnni() {
#if defined(MFN_X86)
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512vnni");
#else
  return false;
#endif
}

}  // namespace

const Kernels& best_kernels() {
#if defined(MFN_X86)
  const char* cpu = cpu::best_kernels().name;
  if (std::strcmp(cpu, "avx512") == 0) return has_avx512_vnni() ? kernels_avx512_vnni() : kernels_avx512();
  if (std::strcmp(cpu, "avx2") == 0) return kernels_avx2();
#endif
  return kernels_generic();
}

int available_kernels(const Kernels** out, int capacity) {
  int n = 0;
  auto push = [&](const Kernels& k) {
    if (n < capacity) out[n++] = &k;
  };
  push(kernels_generic());
#if defined(MFN_X86)
  if (cpu::kernels_for(cpu::Isa::avx2) != nullptr) push(kernels_avx2());
  if (cpu::kernels_for(cpu::Isa::avx512) != nullptr) {
    push(kernels_avx512());
    if (has_avx512_vnni()) push(kernels_avx512_vnni());
  }
#endif
  return n;
}

}  // namespace gallery
}  // namespace mfn
