// Score kernels of the gallery scan, one table per ISA (AVX-512 with VNNI,
// AVX-512, AVX2+FMA, portable); dispatch.cc picks the best the CPU has.
// Called by one scan thread on one block of rows.
#pragma once

#include <cstddef>
#include <cstdint>

namespace mfn {
namespace gallery {

// Stored rows and encoded queries are padded with zeros to a multiple of
// kDimAlign values, and every row starts on a 64-byte boundary.
constexpr int kDimAlign = 64;

// out[q * ld + r] = dot(query q, row r) for q < nq, r < nrows.
//   float32 rows: queries are double, products and sums in double (so that
//                 the result is the float64 dot product of the stored floats).
//   float16 rows: queries are float, sums in float32.
//   int8 rows:    queries are int16, sums in int32 (exact), written as double.
struct ScoreArgs {
  const void* queries = nullptr;
  size_t query_stride = 0;   // bytes between queries
  int nq = 0;
  const uint8_t* rows = nullptr;
  size_t row_stride = 0;     // bytes between rows
  int nrows = 0;
  int dims = 0;              // padded: a multiple of kDimAlign
  double* out = nullptr;
  size_t ld = 0;
};

using ScoreFn = void (*)(const ScoreArgs& args);

struct Kernels {
  const char* name;          // "avx512-vnni", "avx512", "avx2", "scalar"
  ScoreFn float32;
  ScoreFn float16;
  ScoreFn int8;
};

const Kernels& kernels_generic();
#if defined(MFN_X86)
const Kernels& kernels_avx2();
const Kernels& kernels_avx512();
const Kernels& kernels_avx512_vnni();
#endif

// The best table for this CPU, capped by MFN_CPU_ISA like the CPU backend.
const Kernels& best_kernels();
// Every table this CPU can run (for tests comparing them).
int available_kernels(const Kernels** out, int capacity);

}  // namespace gallery
}  // namespace mfn
