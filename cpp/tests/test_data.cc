#include "tests/test_data.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "tests/check.h"

namespace mfn_test {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}

}  // namespace

std::string model_path() { return env_or("MFN_MODEL", std::string(MFN_REPO_ROOT) + "/models/mobilefacenet.onnx"); }

std::string detector_path() {
  return env_or("MFN_DETECTOR", std::string(MFN_REPO_ROOT) + "/models/blazeface_back_256.onnx");
}

std::string plugin_dir() { return env_or("MFN_PLUGIN_DIR", MFN_PLUGIN_DIR); }

std::unique_ptr<mfn::Engine> face_engine() {
  mfn::EngineOptions options;
  options.model_path = model_path();
  options.detector_path = detector_path();
  options.backend = mfn::BackendChoice::cpu;
  options.threads = 2;
  std::unique_ptr<mfn::Engine> engine;
  mfn::Status s = mfn::Engine::create(options, &engine);
  REQUIRE_MSG(s.is_ok(), "%s", s.message().c_str());
  return engine;
}

mfn::ImageInput bgr_image(const std::vector<uint8_t>& pixels, int width, int height) {
  mfn::ImageInput image;
  image.data = pixels.data(), image.size = pixels.size(), image.width = width, image.height = height;
  image.channels = 3;
  image.order = MFN_ORDER_BGR;
  return image;
}

std::vector<uint8_t> side_by_side(const Crops& crops, size_t left, size_t right) {
  const size_t row = static_cast<size_t>(crops.width) * 3;
  std::vector<uint8_t> out(2 * row * crops.height);
  for (int y = 0; y < crops.height; ++y) {
    const auto from = [&](size_t crop) { return crops.pixels[crop].begin() + y * row; };
    std::copy(from(left), from(left) + row, out.begin() + 2 * y * row);
    std::copy(from(right), from(right) + row, out.begin() + (2 * y + 1) * row);
  }
  return out;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string scratch_dir(const std::string& test_name) {
  const std::string dir = "/tmp/" + test_name + "_" + std::to_string(::getpid()) + "/";
  ::mkdir(dir.c_str(), 0700);
  return dir;
}

bool load_crops(Crops* out, std::string* reason) {
  return mfn_tools::read_crops_file(env_or("MFN_CROPS", std::string(MFN_REPO_ROOT) + "/build/lfw-crops.bin"), out,
                                    reason);
}

}  // namespace mfn_test
