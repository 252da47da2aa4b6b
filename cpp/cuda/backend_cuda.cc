// The exported C ABI of libmfn_cuda.so (see mfn/abi.h). Every function
// catches everything: no C++ exception and no C++ type crosses into the
// engine, which resolves these symbols with dlsym. Called from the engine's
// worker thread for the device (one at a time per handle) and, for the
// score, from whichever thread creates an engine.
#include <cuda_runtime.h>

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>

#include "cuda/common.cuh"
#include "cuda/executor.h"
#include "mfn/abi.h"

#define MFN_EXPORT extern "C" __attribute__((visibility("default")))

namespace {

void write_message(char* buffer, size_t size, const std::string& message) {
  if (!buffer || size == 0) return;
  const size_t n = message.size() < size - 1 ? message.size() : size - 1;
  std::memcpy(buffer, message.data(), n);
  buffer[n] = '\0';
}

// embed and infer: runs `call` on the handle's executor and turns its Error,
// or anything it throws, into an mfn_code plus the message in `err`.
template <typename Call>
int32_t run_call(void* handle, char* err, size_t err_size, Call call) {
  try {
    if (!handle) {
      write_message(err, err_size, "null CUDA backend handle");
      return MFN_E_INVALID_ARGUMENT;
    }
    const mfn_cuda::Error e = call(static_cast<mfn_cuda::Executor*>(handle));
    write_message(err, err_size, e.message);
    return e.code;
  } catch (const std::bad_alloc&) {
    write_message(err, err_size, "out of host memory in the CUDA backend");
    return MFN_E_OUT_OF_MEMORY;
  } catch (const std::exception& ex) {
    write_message(err, err_size, std::string("internal error in the CUDA backend: ") + ex.what());
    return MFN_E_INTERNAL;
  } catch (...) {
    write_message(err, err_size, "internal error in the CUDA backend");
    return MFN_E_INTERNAL;
  }
}

}  // namespace

MFN_EXPORT int32_t mfn_backend_api_version(void) { return MFN_BACKEND_API_VERSION; }

MFN_EXPORT int32_t mfn_backend_score(int32_t device, char* reason, size_t reason_size) {
  try {
    const std::string why = mfn_cuda::device_problem(device);
    if (!why.empty()) {
      write_message(reason, reason_size, why);
      return 0;
    }
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, device) != cudaSuccess) return 0;
    write_message(reason, reason_size, "");
    // Any usable GPU beats the CPU; newer architectures rank higher.
    return 100 + prop.major * 10 + prop.minor;
  } catch (...) {
    write_message(reason, reason_size, "internal error while probing CUDA devices");
    return 0;
  }
}

MFN_EXPORT void* mfn_backend_create(const mfn_plan* plan, const mfn_backend_config* config, int32_t* code, char* err,
                                    size_t err_size) {
  int32_t local_code = MFN_OK;
  if (!code) code = &local_code;
  try {
    if (!plan || !config) {
      *code = MFN_E_INVALID_ARGUMENT;
      write_message(err, err_size, "null plan or config");
      return nullptr;
    }
    std::unique_ptr<mfn_cuda::Executor> executor;
    const mfn_cuda::Error e = mfn_cuda::Executor::create(*plan, *config, &executor);
    if (!e.ok()) {
      *code = e.code;
      write_message(err, err_size, e.message);
      return nullptr;
    }
    *code = MFN_OK;
    write_message(err, err_size, "");
    return executor.release();
  } catch (const std::bad_alloc&) {
    *code = MFN_E_OUT_OF_MEMORY;
    write_message(err, err_size, "out of host memory while creating the CUDA backend");
  } catch (const std::exception& ex) {
    *code = MFN_E_INTERNAL;
    write_message(err, err_size, std::string("internal error while creating the CUDA backend: ") + ex.what());
  } catch (...) {
    *code = MFN_E_INTERNAL;
    write_message(err, err_size, "internal error while creating the CUDA backend");
  }
  return nullptr;
}

MFN_EXPORT int32_t mfn_backend_embed(void* handle, const mfn_image* images, size_t n, int32_t flip, float* out,
                                     char* err, size_t err_size) {
  return run_call(handle, err, err_size,
                  [&](mfn_cuda::Executor* executor) { return executor->embed(images, n, flip != 0, out); });
}

MFN_EXPORT int32_t mfn_backend_infer(void* handle, const mfn_image* images, size_t n, float* out, char* err,
                                     size_t err_size) {
  return run_call(handle, err, err_size, [&](mfn_cuda::Executor* executor) { return executor->infer(images, n, out); });
}

MFN_EXPORT void mfn_backend_timings(void* handle, mfn_stage_times* times) {
  if (!handle || !times) return;
  *times = static_cast<mfn_cuda::Executor*>(handle)->timings();
}

MFN_EXPORT void mfn_backend_destroy(void* handle) {
  try {
    delete static_cast<mfn_cuda::Executor*>(handle);
  } catch (...) {
    // A destructor that throws has nowhere to report to; the handle is gone.
  }
}
