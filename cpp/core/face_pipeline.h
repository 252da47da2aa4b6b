// FacePipeline: detect and embed-faces calls from any thread, batched across
// callers like embeddings are. A call's photo waits in a detection batcher
// (its own worker thread) until max_batch photos are waiting or the oldest
// has waited max_delay_us; the detector runs them in one pass. Each photo's
// outputs are then decoded on that worker, and for an embed-faces call its
// aligned faces are submitted as one request to the batcher that serves
// embed() calls, where they share engine batches with everyone else's
// images. No Node here: the binding settles its promises from `done`.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "batcher.h"  // beside this header: the addon includes it by path
#include "mfn/engine.h"
#include "mfn/status.h"

namespace mfn {

struct FaceRequest {
  // The photo (landmarks ignored), read in place: the caller keeps the pixels
  // alive until done() runs.
  ImageInput image;
  DetectOptions options;
  bool embed = false;  // also align and embed every face
  bool flip = true;
  // Written before done() gets an ok Status: the faces, highest score first,
  // and with `embed` faces->size() * dimensions floats, row i for face i.
  std::vector<Face>* faces = nullptr;
  std::vector<float>* embeddings = nullptr;
  // Called exactly once, on the detection worker or the embedding batcher's
  // worker: ok, an engine error, Code::aborted (cancelled before its
  // detection or its embeddings ran) or Code::disposed (shut down). Never
  // queue_full: the detection queue admits a call, and its faces then join
  // the embedding queue however full it is. Never called when submit()
  // fails.
  std::function<void(Status)> done;
  std::shared_ptr<const std::atomic<bool>> cancelled;  // optional
};

class FacePipeline {
 public:
  // `embedder` serves the faces' embeddings and must outlive this pipeline
  // (destroy, or shut down, the pipeline first). `options`: the detection
  // queue's delay and size (max_queue counts photos); max_batch and
  // row_floats are the engine's detector's. model_unsupported without a
  // detector; invalid_argument for bad options.
  static Status create(std::shared_ptr<Engine> engine, Batcher* embedder, BatcherOptions options,
                       std::unique_ptr<FacePipeline>* out);

  // Shuts the detection batcher down (see Batcher::~Batcher).
  ~FacePipeline();

  // Any thread. Checks the request (Engine::check_detect, outputs and done
  // present), then queues it: ok, after which done() is called exactly once;
  // otherwise the request is left untouched and done() is never called.
  Status submit(FaceRequest&& request);

  // As Batcher::close() / shutdown(), for the detection stage only: a photo
  // in a detection pass finishes, and its faces then meet the embedding
  // batcher as it is by then (a closed one completes them with disposed).
  void close();
  void shutdown();

  BatcherStats stats() const;  // detection passes, photos
  size_t queued_images() const;

  // One call's state, shared by the callbacks of both stages; opaque,
  // defined in face_pipeline.cc.
  struct Job;

 private:
  FacePipeline() = default;
  std::shared_ptr<Engine> engine_;
  Batcher* embedder_ = nullptr;
  std::unique_ptr<Batcher> detector_;
};

}  // namespace mfn
