// Small helpers shared by the binding: typed errors (an Error with `.code`,
// the same strings as mfn::code_name) and argument checks that say
// "Expected X for Y but received Z". All of it runs on the JavaScript thread
// that owns the env; nothing here may be called from a worker's Execute().
#pragma once

#include <napi.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "mfn/status.h"

namespace mfn_node {

// `code` is defined, not assigned: an assignment would call a setter the
// caller may have put on Object.prototype, running JavaScript mid-call.
inline Napi::Error make_error(Napi::Env env, const char* code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Value().DefineProperty(Napi::PropertyDescriptor::Value("code", Napi::String::New(env, code),
                                                               napi_default_jsproperty));
  return error;
}

inline Napi::Error status_error(Napi::Env env, const mfn::Status& status) {
  return make_error(env, mfn::code_name(status.code()), status.message());
}

// A short description of what the caller passed, for error messages.
inline std::string describe(const Napi::Value& value) {
  switch (value.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return value.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: {
      double number = value.As<Napi::Number>().DoubleValue();
      if (std::isnan(number)) return "NaN";
      std::string text = std::to_string(number);
      text.erase(text.find_last_not_of('0') + 1);
      if (!text.empty() && text.back() == '.') text.pop_back();
      return "number " + text;
    }
    case napi_string: return "string";
    case napi_symbol: return "symbol";
    case napi_function: return "function";
    case napi_bigint: return "bigint";
    case napi_external: return "external";
    case napi_object:
      if (value.IsTypedArray()) return "typed array";
      if (value.IsArrayBuffer()) return "ArrayBuffer";
      if (value.IsArray()) return "array";
      return "object";
  }
  return "unknown";
}

// Throws MFN_INVALID_ARGUMENT (or `code`): "Expected <expected> for <name> but received <value>".
[[noreturn]] inline void throw_invalid(Napi::Env env, const std::string& name, const std::string& expected,
                                       const Napi::Value& value, const char* code = "MFN_INVALID_ARGUMENT") {
  throw make_error(env, code, "Expected " + expected + " for " + name + " but received " + describe(value));
}

inline bool is_integer(const Napi::Value& value, double min, double max) {
  if (!value.IsNumber()) return false;
  double number = value.As<Napi::Number>().DoubleValue();
  return std::isfinite(number) && std::floor(number) == number && number >= min && number <= max;
}

inline int32_t get_int(Napi::Env env, const Napi::Value& value, const std::string& name, int32_t min, int32_t max,
                       const char* code = "MFN_INVALID_ARGUMENT") {
  if (!is_integer(value, min, max)) {
    throw_invalid(env, name, "an integer between " + std::to_string(min) + " and " + std::to_string(max), value, code);
  }
  return value.As<Napi::Number>().Int32Value();
}

inline bool get_bool(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsBoolean()) throw_invalid(env, name, "a boolean", value);
  return value.As<Napi::Boolean>().Value();
}

inline std::string get_string(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsString()) throw_invalid(env, name, "a string", value);
  return value.As<Napi::String>().Utf8Value();
}

inline Napi::Object get_object(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsObject() || value.IsArray() || value.IsFunction()) throw_invalid(env, name, "an object", value);
  return value.As<Napi::Object>();
}

inline Napi::Float32Array get_float32_array(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw_invalid(env, name, "a Float32Array", value);
  }
  return value.As<Napi::Float32Array>();
}

}  // namespace mfn_node
