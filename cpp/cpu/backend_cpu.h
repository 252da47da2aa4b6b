// The CPU backend: FP32, multi-threaded, runtime ISA dispatch. The reference
// backend that every other one is tested against.
#pragma once

#include <memory>

#include "mfn/abi.h"
#include "mfn/backend.h"

namespace mfn {

// The plan must outlive the backend. threads: 0 = all cores.
std::unique_ptr<Backend> make_cpu_backend(const mfn_plan& plan, const mfn_backend_config& config, Status* status);

}  // namespace mfn
