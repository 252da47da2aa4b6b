#include "mfn/status.h"

namespace mfn {

const char* code_name(Code code) {
  switch (code) {
    case Code::ok: return "MFN_OK";
    case Code::invalid_argument: return "MFN_INVALID_ARGUMENT";
    case Code::invalid_dimensions: return "MFN_INVALID_DIMENSIONS";
    case Code::invalid_channels: return "MFN_INVALID_CHANNELS";
    case Code::invalid_landmarks: return "MFN_INVALID_LANDMARKS";
    case Code::model_invalid: return "MFN_MODEL_INVALID";
    case Code::model_unsupported: return "MFN_MODEL_UNSUPPORTED";
    case Code::backend_unavailable: return "MFN_BACKEND_UNAVAILABLE";
    case Code::cuda_error: return "MFN_CUDA_ERROR";
    case Code::out_of_memory: return "MFN_OUT_OF_MEMORY";
    case Code::queue_full: return "MFN_QUEUE_FULL";
    case Code::disposed: return "MFN_DISPOSED";
    case Code::aborted: return "MFN_ABORTED";
    case Code::internal: return "MFN_INTERNAL";
    case Code::nonfinite: return "MFN_NONFINITE";
    case Code::dimension_mismatch: return "MFN_DIMENSION_MISMATCH";
    case Code::invalid_embedding: return "MFN_INVALID_EMBEDDING";
    case Code::gallery_file_invalid: return "MFN_GALLERY_FILE_INVALID";
    case Code::io_error: return "MFN_IO_ERROR";
  }
  return "MFN_INTERNAL";
}

}  // namespace mfn
