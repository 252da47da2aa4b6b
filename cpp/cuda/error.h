// Error: how the plugin's host code reports failure up to the C ABI, where
// it becomes an mfn_code plus a message. Host-only and CUDA-free so that the
// planner (plan.cc) can be tested on machines without the CUDA toolkit.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "mfn/abi.h"

namespace mfn_cuda {

struct Error {
  int32_t code = MFN_OK;
  std::string message;
  int32_t cuda_status = 0;  // the cudaError_t behind a CUDA failure, else 0

  bool ok() const { return code == MFN_OK; }
  static Error none() { return Error(); }
};

inline Error make_error(int32_t code, std::string message) {
  Error e;
  e.code = code;
  e.message = std::move(message);
  return e;
}

}  // namespace mfn_cuda

#define MFN_CUDA_RETURN_IF_ERROR(expr)               \
  do {                                               \
    ::mfn_cuda::Error mfn_cuda_error_ = (expr);      \
    if (!mfn_cuda_error_.ok()) return mfn_cuda_error_; \
  } while (0)
