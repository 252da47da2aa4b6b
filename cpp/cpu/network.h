// The whole plan prepared for the CPU: validated, every layer packed, and
// each intermediate tensor given an offset in a per-image arena (tensors
// whose lifetimes do not overlap share memory). Immutable after create();
// run() is called concurrently by pool threads, each with its own arena and
// scratch (image-parallel) or with a shared arena and one slice each.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "cpu/conv_layer.h"
#include "cpu/pool_layer.h"
#include "cpu/kernels.h"
#include "cpu/thread_pool.h"
#include "mfn/abi.h"
#include "mfn/status.h"

namespace mfn {
namespace cpu {

class Network {
 public:
  // MFN_MODEL_INVALID for an inconsistent plan, MFN_MODEL_UNSUPPORTED for
  // one this backend cannot run, MFN_OUT_OF_MEMORY when packing fails.
  static Status create(const mfn_plan& plan, const Kernels& kernels, std::unique_ptr<Network>* out);

  size_t input_floats() const { return input_floats_; }     // h * w * c of tensors[0]
  size_t arena_floats() const { return arena_floats_; }     // per image in flight
  size_t scratch_floats() const { return scratch_floats_; } // per thread
  // Floats one run writes: the embedding, or a detector's raw outputs
  // (each h x w x c, in plan.outputs order) one after the other.
  size_t output_floats() const { return output_floats_; }
  bool raw() const { return raw_; }  // a detector's raw outputs, not an embedding
  const Kernels& kernels() const { return *kernels_; }

  // One image: NHWC input -> output_floats() floats (an embedding is not
  // normalised).
  // parts == 1: the caller runs everything. parts > 1: participant `part`
  // of a pool run computes its slice of every layer, synchronising on
  // pool->barrier() between layers; all share arena, part 0 writes the output.
  void run(const float* input, float* arena, float* scratch, float* out, int part, int parts,
           ThreadPool* pool) const;

 private:
  Network() = default;

  const Kernels* kernels_ = nullptr;
  std::vector<ConvLayer> layers_;
  std::vector<size_t> offset_;  // arena offset of each tensor (tensor 0 is the input)
  std::vector<int> outputs_;        // tensors copied out, in order
  std::vector<size_t> output_size_;  // floats of each
  size_t output_floats_ = 0;
  bool raw_ = false;
  size_t input_floats_ = 0;
  size_t arena_floats_ = 0;
  size_t scratch_floats_ = 0;
};

}  // namespace cpu
}  // namespace mfn
