// libFuzzer harness: manifest.json text -> JSON reader -> field checks.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mfn::Manifest manifest;
  mfn::parse_manifest(std::string(reinterpret_cast<const char*>(data), size), "fuzz", &manifest);
  return 0;
}
