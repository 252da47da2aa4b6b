// Status: how every engine function reports failure. No exception leaves the
// engine; the binding turns a Status into an MfnError with its `code`.
#pragma once

#include <string>
#include <utility>

#include "mfn/abi.h"

namespace mfn {

enum class Code : int {
  ok = MFN_OK,
  invalid_argument = MFN_E_INVALID_ARGUMENT,
  invalid_dimensions = MFN_E_INVALID_DIMENSIONS,
  invalid_channels = MFN_E_INVALID_CHANNELS,
  invalid_landmarks = MFN_E_INVALID_LANDMARKS,
  model_invalid = MFN_E_MODEL_INVALID,
  model_unsupported = MFN_E_MODEL_UNSUPPORTED,
  backend_unavailable = MFN_E_BACKEND_UNAVAILABLE,
  cuda_error = MFN_E_CUDA_ERROR,
  out_of_memory = MFN_E_OUT_OF_MEMORY,
  queue_full = MFN_E_QUEUE_FULL,
  disposed = MFN_E_DISPOSED,
  aborted = MFN_E_ABORTED,
  internal = MFN_E_INTERNAL,
  nonfinite = MFN_E_NONFINITE,  // the model computed NaN/Inf (or a zero vector) for an input
  // Gallery errors: engine-only, they never cross the plugin ABI.
  dimension_mismatch = 100,
  invalid_embedding = 101,
  gallery_file_invalid = 102,
  io_error = 103,
};

// "MFN_MODEL_INVALID" etc.: the string JavaScript sees as error.code.
const char* code_name(Code code);

class Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == Code::ok; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  Code code_ = Code::ok;
  std::string message_;
};

}  // namespace mfn

#define MFN_RETURN_IF_ERROR(expr)              \
  do {                                         \
    ::mfn::Status mfn_status_ = (expr);        \
    if (!mfn_status_.is_ok()) return mfn_status_; \
  } while (0)
