// Threads: submit() on any thread; the detection batcher's worker runs the
// detector, decodes and hands the faces on; the embedding batcher's worker
// completes embed-faces calls. A call's state (Job) is shared by the
// callbacks of both stages and freed after the last one.
#include "core/face_pipeline.h"

#include <memory>
#include <utility>

namespace mfn {

struct FacePipeline::Job {
  FaceRequest request;
  std::vector<float> outputs;         // the detector's raw outputs of the photo
  std::vector<ImageInput> aligned;    // the photo aligned on each kept face

  void finish(Status status) {
    // done() may free what the caller owns: nothing of the request is
    // touched after it.
    std::function<void(Status)> done = std::move(request.done);
    done(std::move(status));
  }
};

namespace {

// Detection worker thread: the photo's faces, then its embeddings queued.
void on_detected(const std::shared_ptr<FacePipeline::Job>&, const Engine&, Batcher*, Status);

}  // namespace

Status FacePipeline::create(std::shared_ptr<Engine> engine, Batcher* embedder, BatcherOptions options,
                            std::unique_ptr<FacePipeline>* out) {
  if (!out || !engine || !embedder) return Status(Code::invalid_argument, "face pipeline: null engine or batcher");
  if (!engine->has_detector()) return Status(Code::model_unsupported, "this engine was created without a face detector");
  options.max_batch = engine->detector_max_batch();
  options.row_floats = engine->detector_output_floats();
  std::unique_ptr<FacePipeline> pipeline(new FacePipeline());
  pipeline->engine_ = engine;
  pipeline->embedder_ = embedder;
  // The detection worker's passes take the engine's backend lock like
  // every other backend call.
  MFN_RETURN_IF_ERROR(Batcher::create(
      options,
      [engine](const ImageInput* images, size_t n, bool, float* raw) { return engine->detector_infer(images, n, raw); },
      &pipeline->detector_));
  *out = std::move(pipeline);
  return Status::ok();
}

FacePipeline::~FacePipeline() = default;

Status FacePipeline::submit(FaceRequest&& request) {
  if (!request.done) return Status(Code::invalid_argument, "face request has no done callback");
  if (!request.faces || (request.embed && !request.embeddings)) {
    return Status(Code::invalid_argument, "face request has no output for its faces or embeddings");
  }
  ImageInput photo = request.image;
  photo.landmarks = nullptr;
  MFN_RETURN_IF_ERROR(engine_->check_detect(photo, request.options));

  auto job = std::make_shared<Job>();
  job->outputs.resize(engine_->detector_output_floats());
  BatchRequest detection;
  detection.images.push_back(photo);
  detection.out = job->outputs.data();
  detection.cancelled = request.cancelled;
  std::shared_ptr<Engine> engine = engine_;
  Batcher* embedder = embedder_;
  detection.done = [job, engine, embedder](Status status) { on_detected(job, *engine, embedder, std::move(status)); };
  // In the job before the submit (the worker may finish it at once); a
  // refused submit hands it back as it came.
  const ImageInput image = request.image;
  job->request = std::move(request);
  job->request.image = photo;
  Status status = detector_->submit(std::move(detection));
  if (!status.is_ok()) {
    request = std::move(job->request);
    request.image = image;
  }
  return status;
}

namespace {

void on_detected(const std::shared_ptr<FacePipeline::Job>& job, const Engine& engine, Batcher* embedder,
                 Status status) {
  FaceRequest& request = job->request;
  if (!status.is_ok()) return job->finish(std::move(status));
  status = engine.decode_faces(request.image, job->outputs.data(), request.options, request.faces);
  if (!status.is_ok() || !request.embed) return job->finish(std::move(status));

  engine.align_faces(request.image, request.faces, &job->aligned);
  request.embeddings->assign(job->aligned.size() * static_cast<size_t>(engine.dimensions()), 0.f);
  if (job->aligned.empty()) return job->finish(Status::ok());
  BatchRequest faces;
  faces.images = job->aligned;
  faces.flip = request.flip;
  faces.out = request.embeddings->data();
  faces.cancelled = request.cancelled;
  faces.admitted = true;  // the photo was admitted by the detection queue
  faces.done = [job](Status embedded) { job->finish(std::move(embedded)); };
  status = embedder->submit(std::move(faces));
  if (!status.is_ok()) job->finish(std::move(status));
}

}  // namespace

void FacePipeline::close() { detector_->close(); }
void FacePipeline::shutdown() { detector_->shutdown(); }
BatcherStats FacePipeline::stats() const { return detector_->stats(); }
size_t FacePipeline::queued_images() const { return detector_->queued_images(); }

}  // namespace mfn
