// GalleryWrap: the JavaScript object around one mfn::Gallery, and the
// addon's gallery entry points (createGallery, loadGallery).
//
// Threads: every method runs on the JavaScript thread of the env that made
// the object. add/remove/has are synchronous there: they encode one vector
// and take the gallery's writer lock, which is never held during a scan
// (see mfn/gallery.h). search, save and loadGallery are AsyncWorkers: the
// scan or the file I/O runs on a libuv pool thread (the scan also on the
// gallery's own threads), never on the JavaScript thread.
//
// Lifecycle: each asynchronous call shares the gallery (std::shared_ptr),
// so dispose() returns at once: later calls throw MFN_DISPOSED, calls
// already running finish and resolve, and the dispose() promise resolves
// once they have, with the gallery's memory freed.
#pragma once

#include <napi.h>

#include <memory>
#include <vector>

#include "mfn/gallery.h"

namespace mfn_node {

class GalleryWrap : public Napi::ObjectWrap<GalleryWrap> {
 public:
  // Adds createGallery, loadGallery and the Gallery class to `exports`.
  static void register_exports(Napi::Env env, Napi::Object exports);

  explicit GalleryWrap(const Napi::CallbackInfo& info);

  // Called by the asynchronous workers on the JavaScript thread when they
  // settle.
  void call_finished(Napi::Env env);

 private:
  Napi::Value add(const Napi::CallbackInfo& info);
  Napi::Value remove(const Napi::CallbackInfo& info);
  Napi::Value has(const Napi::CallbackInfo& info);
  Napi::Value search(const Napi::CallbackInfo& info);
  Napi::Value save(const Napi::CallbackInfo& info);
  Napi::Value dispose(const Napi::CallbackInfo& info);
  Napi::Value size(const Napi::CallbackInfo& info);
  Napi::Value dimensions(const Napi::CallbackInfo& info);
  Napi::Value precision(const Napi::CallbackInfo& info);
  Napi::Value threads(const Napi::CallbackInfo& info);
  Napi::Value bytes_per_vector(const Napi::CallbackInfo& info);
  Napi::Value disposed(const Napi::CallbackInfo& info);

  mfn::Gallery& gallery_for_call(Napi::Env env) const;
  void resolve_dispose_if_idle(Napi::Env env);

  std::shared_ptr<mfn::Gallery> gallery_;
  int pending_ = 0;  // asynchronous calls not yet settled
  std::vector<Napi::Promise::Deferred> dispose_waiters_;
  // Copied at creation so that they stay readable after dispose().
  int dimensions_ = 0;
  mfn::Precision precision_ = mfn::Precision::float32;
  int threads_ = 0;
  double bytes_per_vector_ = 0;
};

}  // namespace mfn_node
