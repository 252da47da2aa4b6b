#include "cancel_token.h"

#include "napi_util.h"

namespace mfn_node {

namespace {

// Marks CancelToken objects, so that flag_of() never unwraps anything else.
const napi_type_tag kCancelTokenTag = {0x6d666e2d63616e63ULL, 0x656c2d746f6b656eULL};

}  // namespace

Napi::Function CancelToken::define_class(Napi::Env env) {
  return DefineClass(env, "CancelToken",
                     {
                         InstanceMethod<&CancelToken::cancel>("cancel"),
                         InstanceAccessor<&CancelToken::cancelled>("cancelled"),
                     });
}

CancelToken::CancelToken(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CancelToken>(info) {
  info.This().As<Napi::Object>().TypeTag(&kCancelTokenTag);
}

std::shared_ptr<const std::atomic<bool>> CancelToken::flag_of(Napi::Env env, const Napi::Value& value,
                                                              const std::string& name) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kCancelTokenTag)) {
    throw_invalid(env, name, "a CancelToken", value);
  }
  return Unwrap(value.As<Napi::Object>())->flag_;
}

Napi::Value CancelToken::cancel(const Napi::CallbackInfo& info) {
  flag_->store(true);
  return info.Env().Undefined();
}

Napi::Value CancelToken::cancelled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), flag_->load());
}

}  // namespace mfn_node
