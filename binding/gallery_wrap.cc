#include "gallery_wrap.h"

#include <atomic>
#include <exception>
#include <string>
#include <utility>

#include "cancel_token.h"
#include "mfn/engine.h"
#include "napi_util.h"

namespace mfn_node {

namespace {

// Marks the External that carries a new gallery into the constructor, so
// that `new Gallery(x)` from JavaScript cannot hand us anything else.
const napi_type_tag kGalleryTag = {0x6d666e2d67616c6cULL, 0x6572792d77726170ULL};

struct NewGallery {
  std::shared_ptr<mfn::Gallery> gallery;
};

mfn::Precision parse_precision(Napi::Env env, const Napi::Value& value) {
  std::string name = get_string(env, value, "options.precision");
  if (name == "float32") return mfn::Precision::float32;
  if (name == "float16") return mfn::Precision::float16;
  if (name == "int8") return mfn::Precision::int8;
  throw make_error(env, "MFN_INVALID_ARGUMENT",
                   "Expected \"float32\", \"float16\" or \"int8\" for options.precision but received \"" + name + "\"");
}

Napi::Object wrap(Napi::Env env, Napi::FunctionReference& constructor, std::shared_ptr<mfn::Gallery> gallery) {
  NewGallery created{std::move(gallery)};
  Napi::External<NewGallery> carrier = Napi::External<NewGallery>::New(env, &created);
  carrier.TypeTag(&kGalleryTag);
  return constructor.New({carrier});
}

// A settled promise whose environment is shutting down cannot run
// JavaScript; nobody waits for it any more, so the failure is dropped.
template <typename Settle>
void settle(Settle&& fn) {
  try {
    fn();
  } catch (const Napi::Error&) {
  }
}

mfn::Status unexpected(const char* what) {
  return mfn::Status(mfn::Code::internal, std::string("unexpected gallery failure: ") + what);
}

// The common part of the gallery's asynchronous calls: a promise, the
// gallery shared for the duration, the JavaScript object pinned, and the
// owner told when the call settles.
class GalleryCall : public Napi::AsyncWorker {
 public:
  GalleryCall(Napi::Env env, const char* name, GalleryWrap* owner, Napi::Object self,
              std::shared_ptr<mfn::Gallery> gallery)
      : Napi::AsyncWorker(env, name),
        deferred_(Napi::Promise::Deferred::New(env)),
        owner_(owner),
        self_(Napi::Persistent(self)),
        gallery_(std::move(gallery)) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  // Pool thread.
  void Execute() override {
    try {
      status_ = run();
    } catch (const std::exception& e) {
      status_ = unexpected(e.what());
    } catch (...) {
      status_ = unexpected("unknown exception");
    }
  }

  // JS thread.
  void OnOK() override {
    Napi::Env env = Env();
    settle([&] {
      if (!status_.is_ok()) deferred_.Reject(status_error(env, status_).Value());
      else deferred_.Resolve(result(env));
    });
    owner_->call_finished(env);
  }

 protected:
  virtual mfn::Status run() = 0;
  virtual Napi::Value result(Napi::Env env) { return env.Undefined(); }

  Napi::Promise::Deferred deferred_;
  GalleryWrap* owner_;
  Napi::ObjectReference self_;
  std::shared_ptr<mfn::Gallery> gallery_;
  mfn::Status status_;
};

class SearchCall : public GalleryCall {
 public:
  SearchCall(Napi::Env env, GalleryWrap* owner, Napi::Object self, std::shared_ptr<mfn::Gallery> gallery,
             std::vector<float> queries, size_t count, mfn::GallerySearchOptions options,
             std::shared_ptr<const std::atomic<bool>> cancelled)
      : GalleryCall(env, "mfn:gallery-search", owner, self, std::move(gallery)),
        view_(gallery_->view()),
        queries_(std::move(queries)),
        count_(count),
        options_(options),
        cancelled_(std::move(cancelled)) {
    options_.cancelled = cancelled_.get();
  }

 protected:
  mfn::Status run() override { return gallery_->search(view_, queries_.data(), count_, options_, &results_); }

  Napi::Value result(Napi::Env env) override {
    Napi::Array lists = Napi::Array::New(env, results_.size());
    for (uint32_t q = 0; q < results_.size(); ++q) {
      Napi::Array list = Napi::Array::New(env, results_[q].size());
      for (uint32_t i = 0; i < results_[q].size(); ++i) {
        Napi::Object match = Napi::Object::New(env);
        match.Set("id", Napi::String::New(env, results_[q][i].id));
        match.Set("similarity", Napi::Number::New(env, results_[q][i].similarity));
        list.Set(i, match);
      }
      lists.Set(q, list);
    }
    return lists;
  }

 private:
  mfn::GalleryView view_;       // taken on the JS thread when search() is called
  std::vector<float> queries_;  // a copy: the caller may reuse its array at once
  size_t count_;
  mfn::GallerySearchOptions options_;
  std::shared_ptr<const std::atomic<bool>> cancelled_;
  std::vector<std::vector<mfn::GalleryMatch>> results_;
};

class SaveCall : public GalleryCall {
 public:
  SaveCall(Napi::Env env, GalleryWrap* owner, Napi::Object self, std::shared_ptr<mfn::Gallery> gallery,
           std::string path)
      : GalleryCall(env, "mfn:gallery-save", owner, self, std::move(gallery)),
        view_(gallery_->view()),
        path_(std::move(path)) {}

 protected:
  mfn::Status run() override { return gallery_->save(view_, path_); }

 private:
  mfn::GalleryView view_;  // taken on the JS thread when save() is called
  std::string path_;
};

class LoadWorker : public Napi::AsyncWorker {
 public:
  LoadWorker(Napi::Env env, Napi::FunctionReference* constructor, std::string path, int threads)
      : Napi::AsyncWorker(env, "mfn:gallery-load"),
        deferred_(Napi::Promise::Deferred::New(env)),
        constructor_(constructor),
        path_(std::move(path)),
        threads_(threads) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

  // Pool thread.
  void Execute() override {
    try {
      std::unique_ptr<mfn::Gallery> loaded;
      status_ = mfn::Gallery::load(path_, threads_, &loaded);
      gallery_ = std::move(loaded);
    } catch (const std::exception& e) {
      status_ = unexpected(e.what());
    }
  }

  // JS thread.
  void OnOK() override {
    Napi::Env env = Env();
    settle([&] {
      if (!status_.is_ok()) {
        deferred_.Reject(status_error(env, status_).Value());
        return;
      }
      try {
        deferred_.Resolve(wrap(env, *constructor_, std::move(gallery_)));
      } catch (const Napi::Error& error) {
        deferred_.Reject(error.Value());
      }
    });
  }

 private:
  Napi::Promise::Deferred deferred_;
  Napi::FunctionReference* constructor_;
  std::string path_;
  int threads_;
  std::shared_ptr<mfn::Gallery> gallery_;
  mfn::Status status_;
};

Napi::FunctionReference* constructor_of(const Napi::CallbackInfo& info) {
  return static_cast<Napi::FunctionReference*>(info.Data());
}

// createGallery({ dimensions, precision, threads }) -> Gallery. Synchronous:
// an empty gallery and its idle scan threads.
Napi::Value create_gallery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object options = get_object(env, info[0], "options");
  mfn::GalleryOptions o;
  o.dimensions = get_int(env, options.Get("dimensions"), "options.dimensions", 1, mfn::kMaxGalleryDimensions);
  o.precision = parse_precision(env, options.Get("precision"));
  o.threads = get_int(env, options.Get("threads"), "options.threads", 0, mfn::kMaxThreads);
  std::unique_ptr<mfn::Gallery> gallery;
  mfn::Status status = mfn::Gallery::create(o, &gallery);
  if (!status.is_ok()) throw status_error(env, status);
  return wrap(env, *constructor_of(info), std::move(gallery));
}

// loadGallery(path, threads) -> Promise<Gallery>.
Napi::Value load_gallery(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string path = get_string(env, info[0], "path");
  int threads = get_int(env, info[1], "threads", 0, mfn::kMaxThreads);
  auto* worker = new LoadWorker(env, constructor_of(info), std::move(path), threads);
  Napi::Promise promise = worker->promise();
  worker->Queue();
  return promise;
}

}  // namespace

void GalleryWrap::register_exports(Napi::Env env, Napi::Object exports) {
  Napi::Function cls = DefineClass(env, "Gallery",
                                   {
                                       InstanceMethod<&GalleryWrap::add>("add"),
                                       InstanceMethod<&GalleryWrap::remove>("remove"),
                                       InstanceMethod<&GalleryWrap::has>("has"),
                                       InstanceMethod<&GalleryWrap::search>("search"),
                                       InstanceMethod<&GalleryWrap::save>("save"),
                                       InstanceMethod<&GalleryWrap::dispose>("dispose"),
                                       InstanceAccessor<&GalleryWrap::size>("size"),
                                       InstanceAccessor<&GalleryWrap::dimensions>("dimensions"),
                                       InstanceAccessor<&GalleryWrap::precision>("precision"),
                                       InstanceAccessor<&GalleryWrap::threads>("threads"),
                                       InstanceAccessor<&GalleryWrap::bytes_per_vector>("bytesPerVector"),
                                       InstanceAccessor<&GalleryWrap::disposed>("disposed"),
                                   });
  // Freed with the environment (the main thread or a worker_thread).
  auto* constructor = new Napi::FunctionReference(Napi::Persistent(cls));
  env.AddCleanupHook([constructor] { delete constructor; });
  exports.Set("Gallery", cls);
  exports.Set("createGallery", Napi::Function::New<create_gallery>(env, "createGallery", constructor));
  exports.Set("loadGallery", Napi::Function::New<load_gallery>(env, "loadGallery", constructor));
}

GalleryWrap::GalleryWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<GalleryWrap>(info) {
  Napi::Env env = info.Env();
  if (info.Length() != 1 || !info[0].IsExternal() || !info[0].As<Napi::External<void>>().CheckTypeTag(&kGalleryTag)) {
    throw Napi::TypeError::New(env, "Gallery cannot be constructed directly; use createGallery() or loadGallery()");
  }
  gallery_ = std::move(info[0].As<Napi::External<NewGallery>>().Data()->gallery);
  dimensions_ = gallery_->dimensions();
  precision_ = gallery_->precision();
  threads_ = gallery_->threads();
  bytes_per_vector_ = static_cast<double>(gallery_->row_bytes());
}

mfn::Gallery& GalleryWrap::gallery_for_call(Napi::Env env) const {
  if (!gallery_) throw make_error(env, "MFN_DISPOSED", "This gallery has been disposed");
  return *gallery_;
}

void GalleryWrap::call_finished(Napi::Env env) {
  --pending_;
  resolve_dispose_if_idle(env);
}

void GalleryWrap::resolve_dispose_if_idle(Napi::Env env) {
  if (gallery_ || pending_ > 0) return;
  std::vector<Napi::Promise::Deferred> waiters = std::move(dispose_waiters_);
  dispose_waiters_.clear();
  for (auto& waiter : waiters) settle([&] { waiter.Resolve(env.Undefined()); });
}

// add(id, embedding: Float32Array): encodes and stores at once (reads the
// array during the call only).
Napi::Value GalleryWrap::add(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  mfn::Gallery& gallery = gallery_for_call(env);
  std::string id = get_string(env, info[0], "id");
  Napi::Float32Array embedding = get_float32_array(env, info[1], "embedding");
  mfn::Status status = gallery.add(id, embedding.Data(), embedding.ElementLength());
  if (!status.is_ok()) throw status_error(env, status);
  return env.Undefined();
}

Napi::Value GalleryWrap::remove(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  mfn::Gallery& gallery = gallery_for_call(env);
  return Napi::Boolean::New(env, gallery.remove(get_string(env, info[0], "id")));
}

Napi::Value GalleryWrap::has(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  mfn::Gallery& gallery = gallery_for_call(env);
  return Napi::Boolean::New(env, gallery.contains(get_string(env, info[0], "id")));
}

// search(queries: Float32Array of count * dimensions, k, minSimilarity,
// cancelToken?) -> Promise<{ id, similarity }[][]>.
Napi::Value GalleryWrap::search(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  gallery_for_call(env);
  Napi::Float32Array queries = get_float32_array(env, info[0], "queries");
  mfn::GallerySearchOptions options;
  options.k = get_int(env, info[1], "k", 1, mfn::kMaxGalleryK);
  if (!info[2].IsNumber()) throw_invalid(env, "minSimilarity", "a number between -1 and 1", info[2]);
  options.min_similarity = info[2].As<Napi::Number>().DoubleValue();
  std::shared_ptr<const std::atomic<bool>> cancelled;
  if (info.Length() > 3 && !info[3].IsUndefined()) cancelled = CancelToken::flag_of(env, info[3], "cancelToken");
  const size_t length = queries.ElementLength();
  if (length == 0 || length % static_cast<size_t>(dimensions_) != 0) {
    throw make_error(env, "MFN_DIMENSION_MISMATCH",
                     "Expected queries of " + std::to_string(dimensions_) + " values each but received " +
                         std::to_string(length) + " values");
  }
  std::vector<float> copy(queries.Data(), queries.Data() + length);
  auto* call = new SearchCall(env, this, Value(), gallery_, std::move(copy), length / dimensions_, options,
                              std::move(cancelled));
  Napi::Promise promise = call->promise();
  ++pending_;
  call->Queue();
  return promise;
}

Napi::Value GalleryWrap::save(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  gallery_for_call(env);
  std::string path = get_string(env, info[0], "path");
  auto* call = new SaveCall(env, this, Value(), gallery_, std::move(path));
  Napi::Promise promise = call->promise();
  ++pending_;
  call->Queue();
  return promise;
}

// Idempotent. Lets go of the gallery at once; resolves when the calls
// still running have settled (they hold the gallery until then).
Napi::Value GalleryWrap::dispose(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Promise::Deferred deferred = Napi::Promise::Deferred::New(env);
  gallery_.reset();
  dispose_waiters_.push_back(deferred);
  resolve_dispose_if_idle(env);
  return deferred.Promise();
}

Napi::Value GalleryWrap::size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), gallery_ ? static_cast<double>(gallery_->size()) : 0);
}

Napi::Value GalleryWrap::dimensions(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), dimensions_);
}

Napi::Value GalleryWrap::precision(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), mfn::precision_name(precision_));
}

Napi::Value GalleryWrap::threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads_); }

Napi::Value GalleryWrap::bytes_per_vector(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), bytes_per_vector_);
}

Napi::Value GalleryWrap::disposed(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), !gallery_);
}

}  // namespace mfn_node
