// CancelToken: the JavaScript handle on a batcher request's cancel flag.
// src/ creates one per call that has an AbortSignal and calls cancel() when
// the signal fires; a request whose images have not yet been put into a
// batch then completes with MFN_ABORTED and is never run. Work already
// running finishes (its result is dropped by src/).
//
// Threads: constructed and cancelled on the JavaScript thread; the flag is
// read by the batcher's worker thread.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>
#include <string>

namespace mfn_node {

class CancelToken : public Napi::ObjectWrap<CancelToken> {
 public:
  static Napi::Function define_class(Napi::Env env);

  // The flag behind `value`, which must be a CancelToken; throws
  // MFN_INVALID_ARGUMENT ("Expected a CancelToken for <name> ...") otherwise.
  static std::shared_ptr<const std::atomic<bool>> flag_of(Napi::Env env, const Napi::Value& value,
                                                          const std::string& name);

  explicit CancelToken(const Napi::CallbackInfo& info);

 private:
  Napi::Value cancel(const Napi::CallbackInfo& info);
  Napi::Value cancelled(const Napi::CallbackInfo& info);

  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(false);
};

}  // namespace mfn_node
