// FacePipeline: face calls batched across callers. Checks that concurrent
// calls share detector passes and embedding batches, that every call gets
// what a lone Engine::detect / embed_faces gives it, and the completion
// codes (aborted, queue_full, disposed, invalid requests). Real detector,
// real LFW crops.
#include "core/face_pipeline.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <thread>

#include "check.h"
#include "test_data.h"

namespace {

using mfn::Code;
using mfn::Face;
using mfn::Status;

// Completions counted under a lock; wait() returns once `n` have arrived.
class Waiter {
 public:
  std::function<void(Status)> done(Status* slot) {
    return [this, slot](Status s) {
      std::lock_guard<std::mutex> lock(mu_);
      *slot = std::move(s);
      ++count_;
      cv_.notify_all();
    };
  }
  void wait(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  size_t count_ = 0;
};

struct Call {
  mfn::FaceRequest request;
  std::vector<Face> faces;
  std::vector<float> embeddings;
  Status status = Status(Code::internal, "not completed");
};

std::unique_ptr<mfn::Batcher> make_embedder(const std::shared_ptr<mfn::Engine>& engine, int64_t delay_us,
                                           size_t max_queue = 4096) {
  mfn::BatcherOptions options;
  options.max_batch = engine->max_batch();
  options.max_delay_us = delay_us;
  options.max_queue = max_queue;
  options.row_floats = static_cast<size_t>(engine->dimensions());
  std::unique_ptr<mfn::Batcher> batcher;
  REQUIRE(mfn::Batcher::create(
              options,
              [engine](const mfn::ImageInput* images, size_t n, bool flip, float* out) {
                return engine->embed(images, n, flip, out);
              },
              &batcher)
              .is_ok());
  return batcher;
}

std::unique_ptr<mfn::FacePipeline> make_pipeline(const std::shared_ptr<mfn::Engine>& engine, mfn::Batcher* embedder,
                                                 int64_t delay_us, size_t max_queue) {
  mfn::BatcherOptions options;
  options.max_delay_us = delay_us;
  options.max_queue = max_queue;
  std::unique_ptr<mfn::FacePipeline> pipeline;
  Status s = mfn::FacePipeline::create(engine, embedder, options, &pipeline);
  REQUIRE_MSG(s.is_ok(), "%s", s.message().c_str());
  return pipeline;
}

void prepare(Call* call, const mfn::ImageInput& photo, bool embed, Waiter* waiter) {
  call->request.image = photo;
  call->request.embed = embed;
  call->request.faces = &call->faces;
  call->request.embeddings = &call->embeddings;
  call->request.done = waiter->done(&call->status);
}

float max_box_diff(const std::vector<Face>& a, const std::vector<Face>& b) {
  if (a.size() != b.size()) return INFINITY;
  float diff = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const float d[] = {a[i].x - b[i].x, a[i].y - b[i].y, a[i].width - b[i].width, a[i].height - b[i].height,
                       a[i].score - b[i].score};
    for (float v : d) diff = std::max(diff, std::fabs(v));
    for (int k = 0; k < 10; ++k) diff = std::max(diff, std::fabs(a[i].landmarks[k] - b[i].landmarks[k]));
  }
  return diff;
}

// Photos from four threads at once: shared detector passes, and faces as a
// lone detect() finds them.
void test_concurrent_detect(const std::shared_ptr<mfn::Engine>& engine, const std::vector<mfn::ImageInput>& photos) {
  auto embedder = make_embedder(engine, 1000);
  auto pipeline = make_pipeline(engine, embedder.get(), 20000, 4096);
  std::vector<Call> calls(photos.size());
  Waiter waiter;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < calls.size(); i += 4) {
        prepare(&calls[i], photos[i], false, &waiter);
        CHECK(pipeline->submit(std::move(calls[i].request)).is_ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  waiter.wait(calls.size());
  const mfn::BatcherStats stats = pipeline->stats();
  std::printf("detect: %zu calls in %llu detector passes (largest %d)\n", calls.size(),
              static_cast<unsigned long long>(stats.batches), stats.largest_batch);
  CHECK(stats.images == calls.size());
  CHECK(stats.batches < calls.size() / 2);
  CHECK(stats.largest_batch > 1 && stats.largest_batch <= engine->detector_max_batch());
  float worst = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    REQUIRE_MSG(calls[i].status.is_ok(), "call %zu: %s", i, calls[i].status.message().c_str());
    std::vector<Face> alone;
    REQUIRE(engine->detect(photos[i], mfn::DetectOptions{}, &alone).is_ok());
    worst = std::max(worst, max_box_diff(calls[i].faces, alone));
  }
  std::printf("detect: largest difference from a lone detect() %.3g\n", worst);
  CHECK(worst < 1e-3f);
}

// Embed-faces calls: their faces share embedding batches, each row as
// embed_faces() gives it.
void test_concurrent_embed_faces(const std::shared_ptr<mfn::Engine>& engine,
                                 const std::vector<mfn::ImageInput>& photos) {
  auto embedder = make_embedder(engine, 20000);
  auto pipeline = make_pipeline(engine, embedder.get(), 20000, 4096);
  std::vector<Call> calls(photos.size());
  Waiter waiter;
  for (size_t i = 0; i < calls.size(); ++i) {
    prepare(&calls[i], photos[i], true, &waiter);
    CHECK(pipeline->submit(std::move(calls[i].request)).is_ok());
  }
  waiter.wait(calls.size());
  const mfn::BatcherStats faces = embedder->stats();
  std::printf("embedFaces: %zu calls, %llu faces in %llu embedding batches\n", calls.size(),
              static_cast<unsigned long long>(faces.images), static_cast<unsigned long long>(faces.batches));
  CHECK(faces.batches < calls.size() / 2);
  const size_t dims = static_cast<size_t>(engine->dimensions());
  float lowest = 1;
  for (size_t i = 0; i < calls.size(); ++i) {
    REQUIRE_MSG(calls[i].status.is_ok(), "call %zu: %s", i, calls[i].status.message().c_str());
    std::vector<Face> alone;
    std::vector<float> rows;
    REQUIRE(engine->embed_faces(photos[i], mfn::DetectOptions{}, true, &alone, &rows).is_ok());
    REQUIRE(calls[i].faces.size() == alone.size() && calls[i].embeddings.size() == rows.size());
    for (size_t f = 0; f < alone.size(); ++f) {
      float dot = 0;
      for (size_t d = 0; d < dims; ++d) dot += rows[f * dims + d] * calls[i].embeddings[f * dims + d];
      lowest = std::min(lowest, dot);
    }
  }
  std::printf("embedFaces: lowest cosine to a lone embed_faces() %.7f\n", lowest);
  CHECK(lowest > 0.99999f);
}

void test_completions(const std::shared_ptr<mfn::Engine>& engine, const mfn::ImageInput& photo) {
  Waiter waiter;
  {
    // Cancelled before its detection: aborted. Refused requests never complete.
    auto embedder = make_embedder(engine, 1000);
    auto pipeline = make_pipeline(engine, embedder.get(), 1000, 4096);
    Call cancelled;
    prepare(&cancelled, photo, true, &waiter);
    auto flag = std::make_shared<std::atomic<bool>>(true);
    cancelled.request.cancelled = flag;
    CHECK(pipeline->submit(std::move(cancelled.request)).is_ok());
    waiter.wait(1);
    CHECK(cancelled.status.code() == Code::aborted);

    Call bad;
    prepare(&bad, photo, false, &waiter);
    bad.request.options.max_faces = 0;
    CHECK(pipeline->submit(std::move(bad.request)).code() == Code::invalid_argument);
    CHECK(bad.request.done != nullptr);  // left with the caller
    bad.request.options = mfn::DetectOptions{};
    bad.request.faces = nullptr;
    CHECK(pipeline->submit(std::move(bad.request)).code() == Code::invalid_argument);
    bad.request.faces = &bad.faces;
    bad.request.image.channels = 2;
    CHECK(pipeline->submit(std::move(bad.request)).code() == Code::invalid_channels);

    // The embedding queue closed: a detect still completes, an embed-faces
    // call reports it.
    embedder->close();
    Call detect_only, with_faces;
    prepare(&detect_only, photo, false, &waiter);
    prepare(&with_faces, photo, true, &waiter);
    CHECK(pipeline->submit(std::move(detect_only.request)).is_ok());
    CHECK(pipeline->submit(std::move(with_faces.request)).is_ok());
    waiter.wait(3);
    CHECK(detect_only.status.is_ok() && !detect_only.faces.empty());
    CHECK(with_faces.status.code() == Code::disposed);
  }
  {
    // The faces of admitted calls join the embedding queue however full it
    // is (one image fills this one): no call is dropped half done.
    auto embedder = make_embedder(engine, 200000, 1);
    auto pipeline = make_pipeline(engine, embedder.get(), 1000, 4096);
    std::vector<Call> calls(4);
    Waiter all;
    for (Call& c : calls) {
      prepare(&c, photo, true, &all);
      CHECK(pipeline->submit(std::move(c.request)).is_ok());
    }
    all.wait(calls.size());
    for (const Call& c : calls) CHECK_MSG(c.status.is_ok() && !c.embeddings.empty(), "%s", c.status.message().c_str());
    CHECK(embedder->stats().rejected == 0);
  }
  {
    // A full detection queue refuses; shutting down disposes of what waits.
    auto embedder = make_embedder(engine, 1000);
    auto pipeline = make_pipeline(engine, embedder.get(), 5'000'000, 2);
    std::vector<Call> calls(3);
    for (Call& c : calls) prepare(&c, photo, false, &waiter);
    CHECK(pipeline->submit(std::move(calls[0].request)).is_ok());
    CHECK(pipeline->submit(std::move(calls[1].request)).is_ok());
    CHECK(pipeline->submit(std::move(calls[2].request)).code() == Code::queue_full);
    CHECK(pipeline->stats().rejected == 1);
    pipeline->shutdown();
    waiter.wait(5);
    CHECK(calls[0].status.code() == Code::disposed && calls[1].status.code() == Code::disposed);
    CHECK(pipeline->submit(std::move(calls[2].request)).code() == Code::disposed);
  }
  // No detector: refused at creation.
  mfn::EngineOptions options;
  options.model_path = mfn_test::model_path();
  options.backend = mfn::BackendChoice::cpu;
  options.threads = 1;
  std::unique_ptr<mfn::Engine> plain;
  REQUIRE(mfn::Engine::create(options, &plain).is_ok());
  std::shared_ptr<mfn::Engine> shared(std::move(plain));
  auto embedder = make_embedder(shared, 1000);
  std::unique_ptr<mfn::FacePipeline> none;
  CHECK(mfn::FacePipeline::create(shared, embedder.get(), mfn::BatcherOptions{}, &none).code() ==
        Code::model_unsupported);
}

}  // namespace

int main() {
  mfn_test::Crops crops;
  std::string reason;
  if (!mfn_test::load_crops(&crops, &reason)) mfn_test::skip(reason.c_str());
  std::shared_ptr<mfn::Engine> engine = mfn_test::face_engine();
  const int w = crops.width, h = crops.height;
  // 24 crops, and two side by side (two faces in one photo).
  std::vector<mfn::ImageInput> photos;
  for (size_t i = 0; i < std::min<size_t>(24, crops.pixels.size()); ++i) photos.push_back(mfn_test::bgr_image(crops.pixels[i], w, h));
  const std::vector<uint8_t> pair = mfn_test::side_by_side(crops, 1, 2);
  photos.push_back(mfn_test::bgr_image(pair, 2 * w, h));
  test_concurrent_detect(engine, photos);
  test_concurrent_embed_faces(engine, photos);
  test_completions(engine, photos[0]);
  return mfn_test::test_exit_code();
}
