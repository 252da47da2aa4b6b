// The LFW crops file made by scripts/make-test-crops.mjs: real faces decoded
// to pixels, read by the ctest suite and by mfn_check (neither links an
// image decoder).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mfn_tools {

struct Crops {
  int width = 0, height = 0, channels = 0;   // every crop the same size; HWC uint8, BGR
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<std::vector<float>> landmarks;  // 10 floats each, crop pixel coordinates
  std::vector<std::string> names;
};

// Returns false with a reason when the file is missing, malformed or truncated.
bool read_crops_file(const std::string& path, Crops* out, std::string* reason);

}  // namespace mfn_tools
