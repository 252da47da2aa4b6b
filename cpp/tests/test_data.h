// Where the ctest suite finds its data. Paths default to the repository
// layout (models/, build/, ../shared/data/lfw) and can be overridden by
// environment variables, which the GPU check uses.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mfn_test {

std::string model_path();     // $MFN_MODEL or <repo>/models/mobilefacenet.onnx
std::string plugin_dir();     // $MFN_PLUGIN_DIR or the build's plugin folder ("" if none)

// Real LFW face crops decoded to pixels by scripts/make-test-crops.mjs:
// HWC uint8 BGR, all the same size, with each crop's 5 landmarks in crop
// pixel coordinates. $MFN_CROPS or <repo>/build/lfw-crops.bin.
struct Crops {
  int width = 0, height = 0, channels = 0;
  std::vector<std::vector<uint8_t>> pixels;
  std::vector<std::vector<float>> landmarks;  // 10 floats each
  std::vector<std::string> names;
};
// Returns false (with a reason) when the file is missing or malformed.
bool load_crops(Crops* out, std::string* reason);

std::vector<uint8_t> read_file(const std::string& path);

}  // namespace mfn_test
