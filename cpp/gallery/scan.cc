#include "gallery/scan.h"

#include <algorithm>

namespace mfn {
namespace gallery {

namespace {

// Rows per unit of work: a multiple of the kernels' row tiles that divides
// kBlockRows; 64 float32 rows of 512 values are 128 KiB, which stays in L2
// while a group of queries passes.
constexpr size_t kScanRows = 64;
// Queries scored against a block in one kernel call (their encoded form,
// 256 KiB for float32 queries of 512 values, shares L2 with the rows).
constexpr size_t kQueryGroup = 64;

// The best k candidates seen by one thread for one query: a heap whose top
// is the worst kept candidate. A thread takes blocks in increasing row
// order, so a later candidate with an equal score never ranks before.
class TopK {
 public:
  TopK(int k, double floor) : k_(static_cast<size_t>(k)), floor_(floor) { heap_.reserve(k_); }

  void offer(double score, size_t row) {
    if (heap_.size() < k_) {
      if (!(score >= floor_)) return;  // also drops NaN
      heap_.push_back({score, row});
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    } else if (score > heap_.front().score) {
      std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
      heap_.back() = {score, row};
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    }
  }

  const std::vector<Candidate>& kept() const { return heap_; }

 private:
  size_t k_;
  double floor_;
  std::vector<Candidate> heap_;
};

struct ScanContext {
  const ScanRequest* request;
  size_t units;                          // ceil(rows / kScanRows)
  std::atomic<size_t> next_unit{0};
  std::atomic<bool> aborted{false};
  std::vector<std::vector<TopK>> heaps;  // [participant][query]
};

// Scan thread `participant` (the caller is 0).
void scan_task(void* opaque, int participant) {
  ScanContext& ctx = *static_cast<ScanContext*>(opaque);
  const ScanRequest& req = *ctx.request;
  const Snapshot& snap = *req.snapshot;
  const EncodedQueries& queries = *req.queries;
  std::vector<TopK>& heaps = ctx.heaps[participant];
  const size_t group = std::min(kQueryGroup, req.count);
  std::vector<double> scores(group * kScanRows);
  const ScoreFn score = req.precision == Precision::float32   ? req.kernels->float32
                        : req.precision == Precision::float16 ? req.kernels->float16
                                                              : req.kernels->int8;
  for (;;) {
    if (req.cancelled != nullptr && req.cancelled->load(std::memory_order_relaxed)) {
      ctx.aborted.store(true, std::memory_order_relaxed);
      return;
    }
    const size_t unit = ctx.next_unit.fetch_add(1, std::memory_order_relaxed);
    if (unit >= ctx.units) return;
    const size_t first = unit * kScanRows;
    const size_t rows = std::min(kScanRows, snap.count - first);
    const Block& block = snap.block_of(first);
    const size_t slot = first % kBlockRows;
    for (size_t q0 = 0; q0 < req.count; q0 += group) {
      const size_t nq = std::min(group, req.count - q0);
      ScoreArgs args;
      args.queries = queries.data + q0 * queries.stride;
      args.query_stride = queries.stride;
      args.nq = static_cast<int>(nq);
      args.rows = block.row(slot);
      args.row_stride = block.row_bytes;
      args.nrows = static_cast<int>(rows);
      args.dims = req.padded_dims;
      args.out = scores.data();
      args.ld = kScanRows;
      score(args);
      for (size_t q = 0; q < nq; ++q) {
        TopK& heap = heaps[q0 + q];
        const double query_scale = queries.scale[q0 + q];
        const double* s = &scores[q * kScanRows];
        if (req.precision == Precision::int8) {
          for (size_t r = 0; r < rows; ++r) heap.offer(s[r] * block.scale[slot + r] * query_scale, first + r);
        } else {
          for (size_t r = 0; r < rows; ++r) heap.offer(s[r], first + r);
        }
      }
    }
  }
}

}  // namespace

Status scan(const ScanRequest& request, cpu::ThreadPool& pool, std::vector<std::vector<Candidate>>* out) {
  ScanContext ctx;
  ctx.request = &request;
  ctx.units = (request.snapshot->count + kScanRows - 1) / kScanRows;
  ctx.heaps.assign(pool.size(), std::vector<TopK>(request.count, TopK(request.k, request.min_similarity)));
  if (ctx.units > 0 && request.count > 0) pool.run(scan_task, &ctx);
  if (ctx.aborted.load()) return Status(Code::aborted, "The search was aborted");

  out->assign(request.count, {});
  for (size_t q = 0; q < request.count; ++q) {
    std::vector<Candidate>& merged = (*out)[q];
    for (const auto& per_thread : ctx.heaps) {
      const auto& kept = per_thread[q].kept();
      merged.insert(merged.end(), kept.begin(), kept.end());
    }
    const size_t keep = std::min(merged.size(), static_cast<size_t>(request.k));
    std::partial_sort(merged.begin(), merged.begin() + keep, merged.end(), ranks_before);
    merged.resize(keep);
  }
  return Status::ok();
}

}  // namespace gallery
}  // namespace mfn
