// One search: the scan threads take blocks of rows in turn, score every
// query of the batch against each block (the block stays in cache while the
// queries pass), keep a top-k heap per query and thread, and the heaps are
// merged at the end.
#pragma once

#include <atomic>
#include <cstddef>
#include <vector>

#include "cpu/thread_pool.h"
#include "gallery/encode.h"
#include "gallery/kernels.h"
#include "gallery/store.h"

namespace mfn {
namespace gallery {

struct Candidate {
  double score;
  size_t row;
};

// a ranks before b: higher score, then the earlier row.
inline bool ranks_before(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.row < b.row);
}

struct ScanRequest {
  const Snapshot* snapshot = nullptr;
  const EncodedQueries* queries = nullptr;
  size_t count = 0;                  // queries
  int padded_dims = 0;
  Precision precision = Precision::float32;
  const Kernels* kernels = nullptr;
  int k = 10;
  double min_similarity = -1.0;
  const std::atomic<bool>* cancelled = nullptr;
};

// Fills (*out)[q] with the best candidates of query q, best first. Runs on
// the calling thread and the pool's workers; the caller owns the pool for
// the duration. Code::aborted when the request was cancelled.
Status scan(const ScanRequest& request, cpu::ThreadPool& pool, std::vector<std::vector<Candidate>>* out);

}  // namespace gallery
}  // namespace mfn
