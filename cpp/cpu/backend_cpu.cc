// The CPU backend. One caller thread at a time (the engine's worker) drives
// embed(); the work fans out on the backend's own thread pool:
//   1. preprocess: each image (and its mirror) sampled into an NHWC input;
//   2. compute: with at least as many images as threads, every thread runs
//      whole images in its own arena (it stays in that core's caches); the
//      few left over run with all threads splitting each layer;
//   3. postprocess on the caller: pair sum for flip, L2 normalisation.
#include "cpu/backend_cpu.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#endif

#include "core/preprocess.h"
#include "cpu/aligned_buffer.h"
#include "cpu/isa.h"
#include "cpu/network.h"
#include "cpu/thread_pool.h"
#include "mfn/engine.h"

namespace mfn {

namespace {

using cpu::AlignedBuffer;
using Clock = std::chrono::steady_clock;

// Network passes preprocessed per round (an image with flip is two passes):
// bounds the input staging memory whatever n is. Never more than maxBatch
// images need, and never more than kMaxStagingFloats of input (a model with
// a large input gets fewer passes per round, down to one).
constexpr int kMinChunkPasses = 64;
constexpr size_t kMaxStagingFloats = size_t(1) << 24;
constexpr int kMaxSide = 16384;

double ms_since(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Denormals never matter for an embedding but can slow x86 arithmetic by
// orders of magnitude: flush them while this thread computes.
class FlushDenormals {
 public:
#if defined(__x86_64__) || defined(__i386__)
  FlushDenormals() : saved_(_mm_getcsr()) { _mm_setcsr(saved_ | 0x8040); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved_); }

 private:
  unsigned saved_;
#endif
};

Status check_image(const mfn_image& im, size_t index) {
  const std::string at = "image " + std::to_string(index) + ": ";
  if (im.data == nullptr) return Status(Code::invalid_argument, at + "data is null");
  if (im.width < 1 || im.height < 1 || im.width > kMaxSide || im.height > kMaxSide)
    return Status(Code::invalid_dimensions, at + "bad dimensions");
  if (im.channels != 3 && im.channels != 4) return Status(Code::invalid_channels, at + "channels must be 3 or 4");
  if (im.order != MFN_ORDER_RGB && im.order != MFN_ORDER_BGR) return Status(Code::invalid_argument, at + "bad pixel order");
  if (im.border != MFN_BORDER_CLAMP && im.border != MFN_BORDER_ZERO) return Status(Code::invalid_argument, at + "bad border");
  if (im.row_stride < static_cast<size_t>(im.width) * im.channels)
    return Status(Code::invalid_argument, at + "row stride below width * channels");
  return Status::ok();
}

class CpuBackend final : public Backend {
 public:
  CpuBackend(int threads, int max_batch) : pool_(threads), max_batch_(max_batch) {}

  Status init(const mfn_plan& plan) {
    MFN_RETURN_IF_ERROR(cpu::Network::create(plan, cpu::best_kernels(), &net_));
    input_desc_ = plan.tensors[0];
    pre_plan_ = plan;
    pre_plan_.tensors = &input_desc_;
    pre_plan_.layers = nullptr;
    pre_plan_.num_layers = 0;
    pre_plan_.num_tensors = 1;

    const int threads = pool_.size();
    const size_t in_floats = net_->input_floats();
    chunk_passes_ = std::min({std::max(kMinChunkPasses, 4 * threads), 2 * max_batch_,
                              static_cast<int>(std::max<size_t>(2, kMaxStagingFloats / in_floats))});
    bool ok = inputs_.resize(static_cast<size_t>(chunk_passes_) * in_floats) &&
              outputs_.resize(static_cast<size_t>(chunk_passes_) * net_->output_floats());
    arenas_.resize(threads);
    scratch_.resize(threads);
    for (int t = 0; t < threads && ok; ++t)
      ok = arenas_[t].resize(net_->arena_floats()) && scratch_[t].resize(std::max<size_t>(net_->scratch_floats(), 16));
    if (!ok) return Status(Code::out_of_memory, "CPU backend: out of memory for activations");
    return Status::ok();
  }

  const char* name() const override { return "cpu"; }
  int max_batch() const override { return max_batch_; }
  mfn_stage_times last_timings() const override { return times_; }

  Status embed(const mfn_image* images, size_t n, bool flip, float* out) override {
    if (net_->raw()) return Status(Code::invalid_argument, "this network has raw outputs; use infer()");
    return run(images, n, flip, out);
  }

  Status infer(const mfn_image* images, size_t n, float* out) override {
    if (!net_->raw()) return Status(Code::invalid_argument, "this network computes embeddings; use embed()");
    return run(images, n, false, out);
  }

 private:
  // embed() and infer(): preprocess and run in chunks; a network with raw
  // outputs (the detector) has them copied out instead of summed and
  // normalised.
  Status run(const mfn_image* images, size_t n, bool flip, float* out) {
    times_ = mfn_stage_times{};
    if (n == 0) return Status::ok();
    if (images == nullptr || out == nullptr) return Status(Code::invalid_argument, "images and out must not be null");
    for (size_t i = 0; i < n; ++i) MFN_RETURN_IF_ERROR(check_image(images[i], i));

    const int per_image = flip ? 2 : 1;
    const size_t chunk_images = static_cast<size_t>(chunk_passes_ / per_image);
    const size_t dims = net_->output_floats();
    for (size_t first = 0; first < n; first += chunk_images) {
      run_.images = images + first;
      run_.per_image = per_image;
      run_.passes = static_cast<int>(std::min(chunk_images, n - first)) * per_image;

      Clock::time_point t0 = Clock::now();
      run_.next.store(0, std::memory_order_relaxed);
      pool_.run(&CpuBackend::preprocess_task, this);
      times_.preprocess_ms += ms_since(t0);

      t0 = Clock::now();
      run_.next.store(0, std::memory_order_relaxed);
      pool_.run(&CpuBackend::compute_task, this);
      if (net_->raw()) {
        std::copy(outputs_.data(), outputs_.data() + run_.passes * dims, out + first * dims);
      } else {
        postprocess(out + first * dims);
      }
      times_.compute_ms += ms_since(t0);
    }
    return Status::ok();
  }

  // Runs on every pool participant: claims passes one at a time, or, with
  // fewer passes than threads (a single photo for the detector), bands of
  // rows of them.
  static void preprocess_task(void* ctx, int /*participant*/) {
    auto* self = static_cast<CpuBackend*>(ctx);
    const size_t in_floats = self->net_->input_floats();
    const int threads = self->pool_.size();
    const int bands = self->run_.passes >= threads ? 1 : threads;
    const int rows = self->input_desc_.h;
    for (;;) {
      const int u = self->run_.next.fetch_add(1, std::memory_order_relaxed);
      if (u >= self->run_.passes * bands) break;
      const int p = u / bands, band = u % bands;
      const mfn_image& im = self->run_.images[p / self->run_.per_image];
      const bool mirror = self->run_.per_image == 2 && p % 2 == 1;
      preprocess_rows_nhwc(im, self->pre_plan_, mirror, band * rows / bands, (band + 1) * rows / bands,
                           self->inputs_.data() + p * in_floats);
    }
  }

  // Runs on every pool participant.
  static void compute_task(void* ctx, int t) {
    auto* self = static_cast<CpuBackend*>(ctx);
    FlushDenormals flush;
    const cpu::Network& net = *self->net_;
    const int threads = self->pool_.size();
    const int passes = self->run_.passes;
    const size_t in_floats = net.input_floats();
    const size_t dims = net.output_floats();
    const float* inputs = self->inputs_.data();
    float* emb = self->outputs_.data();
    float* scratch = self->scratch_[t].data();
    // Whole images per thread while every thread has one.
    const int solo = passes - passes % threads;
    for (;;) {
      const int p = self->run_.next.fetch_add(1, std::memory_order_relaxed);
      if (p >= solo) break;
      net.run(inputs + p * in_floats, self->arenas_[t].data(), scratch, emb + p * dims, 0, 1, nullptr);
    }
    if (solo == passes) return;
    // The rest together, in arena 0, once every thread is done with its own.
    self->pool_.barrier();
    for (int p = solo; p < passes; ++p)
      net.run(inputs + p * in_floats, self->arenas_[0].data(), scratch, emb + p * dims, t, threads, &self->pool_);
  }

  void postprocess(float* out) const {
    const size_t dims = net_->output_floats();
    const int images = run_.passes / run_.per_image;
    for (int i = 0; i < images; ++i) {
      const float* a = outputs_.data() + static_cast<size_t>(i) * run_.per_image * dims;
      float* o = out + static_cast<size_t>(i) * dims;
      for (size_t d = 0; d < dims; ++d) o[d] = run_.per_image == 2 ? a[d] + a[dims + d] : a[d];
      double sum = 0.0;
      for (size_t d = 0; d < dims; ++d) sum += static_cast<double>(o[d]) * o[d];
      if (!(sum > 0.0) || !std::isfinite(sum)) continue;  // zero or broken vector: left as is
      const float inv = static_cast<float>(1.0 / std::sqrt(sum));
      for (size_t d = 0; d < dims; ++d) o[d] *= inv;
    }
  }

  // State of the embed() call in flight, read by the pool tasks.
  struct Run {
    const mfn_image* images = nullptr;
    int per_image = 1;
    int passes = 0;
    std::atomic<int> next{0};
  };

  cpu::ThreadPool pool_;
  int max_batch_;
  int chunk_passes_ = 0;
  mfn_tensor_desc input_desc_{};
  mfn_plan pre_plan_{};  // preprocessing fields only; points at input_desc_
  std::unique_ptr<cpu::Network> net_;
  AlignedBuffer inputs_;      // chunk_passes_ NHWC inputs
  AlignedBuffer outputs_;     // chunk_passes_ raw network outputs
  std::vector<AlignedBuffer> arenas_;
  std::vector<AlignedBuffer> scratch_;
  Run run_;
  mfn_stage_times times_{};
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const mfn_plan& plan, const mfn_backend_config& config, Status* status) {
  int threads = 0;
  Status resolved = cpu::resolve_threads(config.threads, &threads);
  if (!resolved.is_ok()) {
    if (status) *status = resolved;
    return nullptr;
  }
  const int max_batch = std::max(config.max_batch, 1);
  std::unique_ptr<CpuBackend> backend(new CpuBackend(threads, max_batch));
  Status s = backend->init(plan);
  if (status) *status = s;
  if (!s.is_ok()) return nullptr;
  return backend;
}

}  // namespace mfn
