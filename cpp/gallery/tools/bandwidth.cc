// mfn_gallery_bw [MiB] [threads]: the read bandwidth of this machine's
// memory, streaming a buffer larger than the caches with 1..threads
// threads; the best of 5 passes, as one JSON line per thread count. An
// exact scan reads every stored byte once, so bytes / this bandwidth is the
// fastest one query can scan the gallery (bench/gallery/bench.mjs).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

// Sums the words of [begin, end); the sum is kept so the reads are not
// optimised away.
uint64_t stream(const uint64_t* begin, const uint64_t* end) {
  uint64_t a = 0, b = 0, c = 0, d = 0;
  for (const uint64_t* p = begin; p + 4 <= end; p += 4) {
    a += p[0];
    b += p[1];
    c += p[2];
    d += p[3];
  }
  return a ^ b ^ c ^ d;
}

}  // namespace

int main(int argc, char** argv) {
  const size_t mib = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 1024;
  const int max_threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const size_t words = mib * 1024 * 1024 / 8;
  std::vector<uint64_t> buffer(words);
  for (size_t i = 0; i < words; ++i) buffer[i] = i;
  uint64_t sink = 0;
  for (int threads = 1; threads <= max_threads; ++threads) {
    double best = 1e30;
    for (int pass = 0; pass < 5; ++pass) {
      std::vector<uint64_t> sums(threads);
      auto t0 = std::chrono::steady_clock::now();
      std::vector<std::thread> pool;
      for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
          size_t per = words / threads;
          sums[t] = stream(buffer.data() + t * per, buffer.data() + (t + 1) * per);
        });
      }
      for (auto& th : pool) th.join();
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::min(best, s);
      for (uint64_t v : sums) sink ^= v;
    }
    std::printf("{\"threads\":%d,\"bytes\":%zu,\"seconds\":%.6f,\"gbPerSecond\":%.3f}\n", threads, words * 8, best,
                words * 8 / best / 1e9);
  }
  return sink == 42 ? 1 : 0;
}
