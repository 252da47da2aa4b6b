// Executor: one CUDA backend instance, for an embedding network (embed) or
// one with raw outputs such as the detector (infer). Owns the device
// weights, the activation buffers (sized once for max_batch, doubled for
// flip in an embedding network), two
// slots of pinned staging + stream so that staging and copy-in of one chunk
// overlap the compute of the previous one, and a CUDA graph per (batch
// bucket, flip, slot). Driven by one thread at a time, not always the same
// one: every entry point selects the device first.
//
// Built with MFN_CUDA_GRAPHS=0 (CMake MFN_CUDA_GRAPHS=OFF) no graph function
// is referenced at all: each chunk enqueues the same kernels directly on its
// slot's stream, for CUDA runtimes without graphs (simulators, debuggers).
#pragma once

#ifndef MFN_CUDA_GRAPHS
#error "MFN_CUDA_GRAPHS must be defined to 0 or 1 (cpp/cuda/CMakeLists.txt does)"
#endif

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cuda/error.h"
#include "cuda/plan.h"
#include "cuda/preprocess.cuh"
#include "cuda/staging.h"
#include "mfn/abi.h"

namespace mfn_cuda {

// Why CUDA device `device` cannot run the backend (no driver, driver too
// old, no such device, compute capability below 7.5, no memory), or "" when
// it can. Leaves `device` selected on the calling thread.
std::string device_problem(int device);

class Executor {
 public:
  static Error create(const mfn_plan& plan, const mfn_backend_config& config, std::unique_ptr<Executor>* out);
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // images[0..n) -> out[n * embedding_size]. Any n: calls larger than
  // max_batch are split into chunks pipelined over the two slots.
  Error embed(const mfn_image* images, size_t n, bool flip, float* out);

  // A network with raw outputs: images[0..n) -> out[n * output floats],
  // each image's output tensors NHWC in plan order, FP32 (mfn_backend_infer).
  // The same pipeline as embed, without flip; the copy-out kernels replace
  // the postprocess.
  Error infer(const mfn_image* images, size_t n, float* out);

  // Stage times of the last embed or infer call: preprocess = host staging
  // (cropping into pinned memory); compute includes the device-side
  // preprocessing and postprocessing (or copy-out) kernels.
  mfn_stage_times timings() const { return timings_; }

 private:
  struct Slot {
    cudaStream_t stream = nullptr;
    cudaEvent_t begin = nullptr, h2d_done = nullptr, compute_begin = nullptr, compute_done = nullptr, end = nullptr;
    ImageDesc* descs_host = nullptr;    // pinned, [max_batch]
    ImageDesc* descs_dev = nullptr;
    uint8_t* pixels_host = nullptr;     // pinned, write-combined
    uint8_t* pixels_dev = nullptr;
    size_t pixels_capacity = 0;         // bytes, host and device alike
    float* out_host = nullptr;          // pinned, [max_batch][output floats]
    float* out_dev = nullptr;
#if MFN_CUDA_GRAPHS
    std::vector<std::pair<int, cudaGraphExec_t>> graphs;  // key: bucket * 2 + flip
#endif
    // The chunk in flight, if any.
    bool busy = false;
    float* dest = nullptr;
    size_t count = 0;
  };

  Executor() = default;
  Error init(const mfn_plan& plan, const mfn_backend_config& config);
  Error init_slot(Slot* slot);
  Error enqueue_network(const Slot& slot, int bucket, bool flip) const;
  // The activation buffer holding `tensor`.
  __half* act(int tensor) const { return static_cast<__half*>(buffers_[net_.tensors[tensor].buffer]); }
#if MFN_CUDA_GRAPHS
  Error graph_for(Slot* slot, int bucket, bool flip, cudaGraphExec_t* exec);
#endif
  Error reserve_pixels(Slot* slot, size_t bytes);
  Error run(const mfn_image* images, size_t n, bool flip, float* out);
  Error enqueue_outputs(const Slot& slot, int bucket, bool flip) const;
  Error submit(Slot* slot, const Slot& previous, const mfn_image* images, const Rect* rects, size_t count, bool flip,
               float* out);
  Error finish(Slot* slot);
  Error fail(Error error);

  NetPlan net_;
  int device_ = 0;
  int max_batch_ = 0;
  int passes_per_image_ = 2;          // 2: an embedding network (flip), 1: raw outputs
  int input_h_ = 0, input_w_ = 0;
  uint16_t* weights_dev_ = nullptr;
  float* params_dev_ = nullptr;
  std::vector<void*> buffers_;        // activation buffers, shared by both slots (compute is serialised)
  Slot slots_[2];
  mfn_stage_times timings_{};
  std::string broken_;                // set once the CUDA context is unusable
};

}  // namespace mfn_cuda
