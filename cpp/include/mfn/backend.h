// Backend: what runs the network. The CPU backend is linked into the engine;
// other backends live in plugins behind the C ABI of abi.h and are wrapped in
// a Backend by backend_registry. A backend is driven by one thread at a time
// (the engine's worker thread for its device).
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "mfn/abi.h"
#include "mfn/status.h"

namespace mfn {

class Backend {
 public:
  virtual ~Backend() = default;

  // "cpu" or "cuda".
  virtual const char* name() const = 0;

  // Largest n embed() accepts (images, before flip doubling).
  virtual int max_batch() const = 0;

  // images[0..n) -> out[n * embedding_size], each row L2-normalised; with
  // flip, normalise(f(x) + f(mirror(x))). Every image's transform is set.
  virtual Status embed(const mfn_image* images, size_t n, bool flip, float* out) = 0;

  // A network with raw outputs (a detector): images[0..n) -> out[n * the
  // plan's output floats], each image's outputs NHWC in plan.outputs order,
  // nothing normalised. Backends without it answer MFN_MODEL_UNSUPPORTED.
  virtual Status infer(const mfn_image* images, size_t n, float* out) {
    (void)images, (void)n, (void)out;
    return Status(Code::model_unsupported, std::string(name()) + " backend: no raw-output networks");
  }

  // Stage times of the last embed() or infer() call.
  virtual mfn_stage_times last_timings() const { return mfn_stage_times{}; }
};

}  // namespace mfn
