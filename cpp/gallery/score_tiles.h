// The register-tiled loop every SIMD score kernel shares: QT queries x RT
// rows of accumulators, one pass over the dimensions. `Ops` supplies the
// vector type and the four operations for one precision and ISA:
//   Acc zero(); Row load_row(const RowT*); Acc madd(Acc, const QueryT*, Row);
//   double reduce(Acc); static constexpr int step (values per load).
// Rows are the outer loop so that the RT rows stay in L1 while every query
// of the block streams past them.
#pragma once

#include "gallery/kernels.h"

namespace mfn {
namespace gallery {

template <typename Ops, int QT, int RT>
void score_tile(const ScoreArgs& a, int q0, int r0) {
  using QueryT = typename Ops::QueryT;
  using RowT = typename Ops::RowT;
  const QueryT* q[QT];
  const RowT* r[RT];
  for (int i = 0; i < QT; ++i) {
    q[i] = reinterpret_cast<const QueryT*>(static_cast<const uint8_t*>(a.queries) + (q0 + i) * a.query_stride);
  }
  for (int j = 0; j < RT; ++j) r[j] = reinterpret_cast<const RowT*>(a.rows + (r0 + j) * a.row_stride);
  typename Ops::Acc acc[QT][RT];
  for (int i = 0; i < QT; ++i)
    for (int j = 0; j < RT; ++j) acc[i][j] = Ops::zero();
  for (int d = 0; d < a.dims; d += Ops::step) {
    typename Ops::Row g[RT];
    for (int j = 0; j < RT; ++j) g[j] = Ops::load_row(r[j] + d);
    for (int i = 0; i < QT; ++i)
      for (int j = 0; j < RT; ++j) acc[i][j] = Ops::madd(acc[i][j], q[i] + d, g[j]);
  }
  for (int i = 0; i < QT; ++i)
    for (int j = 0; j < RT; ++j) a.out[(q0 + i) * a.ld + r0 + j] = Ops::reduce(acc[i][j]);
}

template <typename Ops, int QT, int RT>
void score_rows(const ScoreArgs& a, int r0) {
  int q0 = 0;
  for (; q0 + QT <= a.nq; q0 += QT) score_tile<Ops, QT, RT>(a, q0, r0);
  for (; q0 < a.nq; ++q0) score_tile<Ops, 1, RT>(a, q0, r0);
}

template <typename Ops, int QT, int RT>
void score_grid(const ScoreArgs& a) {
  int r0 = 0;
  for (; r0 + RT <= a.nrows; r0 += RT) score_rows<Ops, QT, RT>(a, r0);
  for (; r0 < a.nrows; ++r0) score_rows<Ops, QT, 1>(a, r0);
}

// Scores all of `a` with QT x RT tiles (smaller ones at the edges). Fewer
// than QT queries (a single search) use 1 x RT1 tiles instead: with only RT
// accumulators the loop would wait on the multiply-add latency.
template <typename Ops, int QT, int RT, int RT1>
void score_all(const ScoreArgs& a) {
  if (a.nq < QT) score_grid<Ops, 1, RT1>(a);
  else score_grid<Ops, QT, RT>(a);
}

}  // namespace gallery
}  // namespace mfn
