// Finds and wraps backend plugins (libmfn_cuda.so) behind mfn::Backend.
#pragma once

#include <memory>
#include <string>

#include "mfn/abi.h"
#include "mfn/backend.h"
#include "mfn/status.h"

namespace mfn {

// dlopens <plugin_dir>/libmfn_cuda.so, checks its API version and its score
// for config.device, and creates a backend for the plan (an embedding
// network, or one with raw outputs such as the detector: Backend::infer). Any reason the GPU
// cannot be used (no plugin, no driver, no device, too old, out of memory)
// -> Code::backend_unavailable with that reason as the message; a failure
// while creating on a usable device keeps the plugin's code.
Status load_cuda_backend(const std::string& plugin_dir, const mfn_plan& plan, const mfn_backend_config& config,
                         std::unique_ptr<Backend>* out);

}  // namespace mfn
