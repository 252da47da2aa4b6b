// Reading the files a caller names as a model or its manifest. Runs on the
// thread that loads the model (a libuv pool thread under Node), so nothing
// here may block: only regular files are read, and a FIFO, device or socket
// is refused before it is opened for reading.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mfn/status.h"

namespace mfn {

// Largest .onnx file and manifest the engine reads.
constexpr uint64_t kMaxModelFileBytes = uint64_t(1) << 30;
constexpr uint64_t kMaxManifestBytes = uint64_t(1) << 20;

// The whole file at `path`. `what` names it in messages ("model",
// "manifest"). A path with a NUL byte -> MFN_INVALID_ARGUMENT; missing,
// unreadable, a directory, not a regular file, or larger than max_bytes ->
// MFN_MODEL_INVALID.
Status read_regular_file(const std::string& path, const char* what, uint64_t max_bytes, std::vector<uint8_t>* out);

}  // namespace mfn
