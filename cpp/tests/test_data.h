// Where the ctest suite finds its data. Paths default to the repository
// layout (models/, build/, ../shared/data/lfw) and can be overridden by
// environment variables, which the GPU check uses.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mfn/engine.h"
#include "tools/crops_file.h"

namespace mfn_test {

std::string model_path();     // $MFN_MODEL or <repo>/models/mobilefacenet.onnx
std::string detector_path(); // $MFN_DETECTOR or <repo>/models/blazeface_back_256.onnx
std::string plugin_dir();     // $MFN_PLUGIN_DIR or the build's plugin folder ("" if none)

// Real LFW face crops (tools/crops_file.h) from $MFN_CROPS or
// <repo>/build/lfw-crops.bin. Returns false (with a reason) when the file is
// missing or malformed.
using Crops = mfn_tools::Crops;
bool load_crops(Crops* out, std::string* reason);

std::vector<uint8_t> read_file(const std::string& path);

// BGR pixels (rows packed) as an ImageInput, read in place.
mfn::ImageInput bgr_image(const std::vector<uint8_t>& pixels, int width, int height);

// Crops `left` and `right` side by side: one (2 * width) x height BGR photo
// with two faces.
std::vector<uint8_t> side_by_side(const Crops& crops, size_t left, size_t right);

// The embedding model and the bundled detector on the CPU backend with 2
// threads; a creation failure ends the test (REQUIRE).
std::unique_ptr<mfn::Engine> face_engine();

// A fresh folder /tmp/<test_name>_<pid>/ (with the trailing slash) for files
// a test writes; the test removes what it puts there.
std::string scratch_dir(const std::string& test_name);

}  // namespace mfn_test
