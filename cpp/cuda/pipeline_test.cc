// Host-only test of the CUDA backend's two-slot pipeline (no GPU, no CUDA
// runtime): the step list that Executor::embed follows (pipeline_steps) is
// replayed on a model of the two streams with random durations for every
// copy, kernel and staging pass, and checked for the races a functional
// simulator cannot show (it runs the streams and warps in one fixed order):
//   - two chunks' networks never overlap: they share the activation buffers;
//   - a slot's pinned staging is rewritten only after its copy-in is done;
//   - a slot's pinned output is overwritten only after the host copied the
//     previous chunk out, and every image is copied out exactly once.
// Mutations of the protocol (a missing finish, no wait on the other slot)
// must be caught, so the model is shown to see these races at all. With
// fixed durations it also checks the point of two slots: staging and
// copies of one chunk overlap the network of another.
#include <algorithm>
#include <cstdio>
#include <random>
#include <vector>

#include "cuda/staging.h"
#include "tests/check.h"

using namespace mfn_cuda;

namespace {

struct Interval {
  double begin, end;
};

// What went wrong in one replay (empty: nothing).
struct Races {
  int network_overlap = 0, staging_overwritten = 0, output_overwritten = 0;
  int images_lost = 0, images_twice = 0;
  double makespan = 0;  // when the host has every embedding
  bool any() const {
    return network_overlap || staging_overwritten || output_overwritten || images_lost || images_twice;
  }
};

// Replays `steps` as Executor::submit / finish enqueue them: copy-in on the
// slot's stream, then (wait_for_other) the event the other slot recorded
// after its network, the network, copy-out; finish blocks the host on the
// slot's last event and copies its embeddings out.
// `dur()` gives each operation's duration.
template <typename Duration>
Races replay(const std::vector<PipelineStep>& steps, size_t n, Duration dur, bool wait_for_other = true) {
  struct SlotState {
    double stream_free = 0, h2d_end = 0, network_end = 0, end = 0, copied_at = 0;
    bool pending = false, output_copied = true;
    size_t first = 0, count = 0;
  } slots[2];
  std::vector<Interval> networks;
  std::vector<int> written(n, 0);
  Races r;
  double host = 0;
  for (const PipelineStep& st : steps) {
    SlotState& s = slots[st.slot];
    if (st.kind == PipelineStep::finish) {
      if (!s.pending) continue;
      host = std::max(host, s.end);  // cudaEventSynchronize(end)
      for (size_t i = s.first; i < s.first + s.count; ++i) ++written[i];
      s.copied_at = host;
      s.output_copied = true;
      s.pending = false;
      host += dur() * 0.1;
      continue;
    }
    // Staging into the slot's pinned buffers, on the host.
    if (s.h2d_end > host) ++r.staging_overwritten;
    host += dur();
    // Copy-in: stream order behind the slot's previous work.
    const double h2d_begin = std::max(s.stream_free, host);
    s.h2d_end = h2d_begin + dur();
    // The network: after copy-in and, with the wait, after the other slot's
    // network as recorded when this chunk is enqueued.
    double begin = s.h2d_end;
    if (wait_for_other) begin = std::max(begin, slots[st.slot ^ 1].network_end);
    const Interval net{begin, begin + dur()};
    for (const Interval& other : networks) {
      if (net.begin < other.end && other.begin < net.end) ++r.network_overlap;
    }
    networks.push_back(net);
    s.network_end = net.end;
    // Copy-out into the pinned output, which must have been copied out.
    const double d2h_begin = net.end;
    if (!s.output_copied || s.copied_at > d2h_begin) ++r.output_overwritten;
    s.end = s.stream_free = d2h_begin + dur();
    s.pending = true;
    s.output_copied = false;
    s.first = st.first, s.count = st.count;
    host += dur() * 0.01;  // enqueueing is asynchronous
  }
  r.makespan = host;
  for (int w : written) {
    if (w == 0) ++r.images_lost;
    if (w > 1) ++r.images_twice;
  }
  return r;
}

// 0.1 to 10 time units, so that any operation may outlast any other.
auto random_duration(std::mt19937& rng) {
  return [&rng] { return std::uniform_real_distribution<double>(0.1, 10.0)(rng); };
}

// Chunks cover [0, n) in order, alternate slots, respect max_batch and the
// byte cap, and each slot is finished right before it is refilled.
void check_steps(const std::vector<PipelineStep>& steps, const std::vector<size_t>& bytes, int max_batch, size_t cap) {
  size_t next = 0;
  int expected_slot = 0;
  for (size_t k = 0; k < steps.size(); ++k) {
    const PipelineStep& st = steps[k];
    if (st.kind != PipelineStep::submit) continue;
    CHECK(k > 0 && steps[k - 1].kind == PipelineStep::finish && steps[k - 1].slot == st.slot);
    CHECK(st.slot == expected_slot);
    CHECK_MSG(st.first == next && st.count >= 1 && st.count <= static_cast<size_t>(max_batch),
              "chunk [%zu, +%zu) after %zu, max_batch %d", st.first, st.count, next, max_batch);
    size_t total = 0;
    for (size_t i = st.first; i < st.first + st.count && i < bytes.size(); ++i) total += bytes[i];
    CHECK(st.count == 1 || total <= cap);
    next = st.first + st.count;
    expected_slot ^= 1;
  }
  CHECK(next == bytes.size());
  REQUIRE(steps.size() >= 2);
  const PipelineStep& a = steps[steps.size() - 2];
  const PipelineStep& b = steps.back();
  CHECK(a.kind == PipelineStep::finish && b.kind == PipelineStep::finish && a.slot != b.slot);
  CHECK(a.slot == expected_slot);  // the older chunk first
}

void test_protocol_is_race_free() {
  std::mt19937 rng(5);
  const size_t cap = 1000;
  std::uniform_int_distribution<size_t> small(1, 100), any(1, 2000);
  int replays = 0;
  for (size_t n : {1, 2, 3, 7, 64, 65, 128, 129, 200, 256, 300, 1000}) {
    for (int max_batch : {1, 3, 7, 48, 64, 256}) {
      for (int variant = 0; variant < 3; ++variant) {
        std::vector<size_t> bytes(n);
        for (size_t& b : bytes) b = variant == 0 ? 10 : variant == 1 ? small(rng) : any(rng);  // 2: some above the cap
        const std::vector<PipelineStep> steps = pipeline_steps(bytes, max_batch, cap);
        check_steps(steps, bytes, max_batch, cap);
        for (int trial = 0; trial < 20; ++trial, ++replays) {
          const Races r = replay(steps, n, random_duration(rng));
          CHECK_MSG(!r.any(), "n=%zu max_batch=%d: overlap %d staging %d output %d lost %d twice %d", n, max_batch,
                    r.network_overlap, r.staging_overwritten, r.output_overwritten, r.images_lost, r.images_twice);
        }
      }
    }
  }
  std::printf("pipeline: %d random replays race-free\n", replays);
}

// The model must see the races the protocol prevents.
void test_mutations_are_caught() {
  std::mt19937 rng(9);
  const std::vector<size_t> bytes(300, 10);
  const std::vector<PipelineStep> steps = pipeline_steps(bytes, 64, 1000);
  int overlaps = 0, overwrites = 0;
  for (int trial = 0; trial < 50; ++trial) {
    overlaps += replay(steps, bytes.size(), random_duration(rng), /*wait_for_other=*/false).network_overlap;
    std::vector<PipelineStep> no_finish;
    for (const PipelineStep& st : steps) {
      if (!(st.kind == PipelineStep::finish && &st != &steps.back() && &st != &steps[steps.size() - 2])) {
        no_finish.push_back(st);
      }
    }
    const Races r = replay(no_finish, bytes.size(), random_duration(rng));
    overwrites += r.staging_overwritten + r.output_overwritten;
    CHECK(r.images_lost > 0);
  }
  CHECK_MSG(overlaps > 0, "networks without the cross-slot wait never overlapped");
  CHECK_MSG(overwrites > 0, "refilling a slot without finishing it was never caught");
}

// With every operation taking one unit, a call of four chunks takes 16
// units when nothing overlaps; the two slots must do clearly better, and
// finishing each chunk right after submitting it must not.
void test_slots_overlap() {
  const std::vector<size_t> bytes(256, 10);
  const std::vector<PipelineStep> steps = pipeline_steps(bytes, 256, 1000);
  const auto unit = [] { return 1.0; };
  const double serial = 4 * 4.0;
  const Races r = replay(steps, bytes.size(), unit);
  CHECK(!r.any());
  std::vector<PipelineStep> serialised;
  for (const PipelineStep& st : steps) {
    serialised.push_back(st);
    if (st.kind == PipelineStep::submit) serialised.push_back({PipelineStep::finish, st.slot});
  }
  const Races s = replay(serialised, bytes.size(), unit);
  std::printf("pipeline: 4 chunks of 64 in %.2f units with two slots, %.2f serialised (%.0f without overlap)\n",
              r.makespan, s.makespan, serial);
  CHECK_MSG(r.makespan < 0.75 * serial, "two slots took %.2f of %.0f units", r.makespan, serial);
  CHECK(s.makespan >= serial);
}

}  // namespace

int main() {
  test_protocol_is_race_free();
  test_mutations_are_caught();
  test_slots_overlap();
  std::printf("cuda_pipeline_test: %d failure(s)\n", mfn_test::failures());
  return mfn_test::test_exit_code();
}
