#include "tests/test_data.h"

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace mfn_test {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value && *value ? std::string(value) : fallback;
}

bool read_u32(std::ifstream& in, uint32_t* v) {
  unsigned char b[4];
  if (!in.read(reinterpret_cast<char*>(b), 4)) return false;
  *v = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  return true;
}

}  // namespace

std::string model_path() { return env_or("MFN_MODEL", std::string(MFN_REPO_ROOT) + "/models/mobilefacenet.onnx"); }

std::string plugin_dir() { return env_or("MFN_PLUGIN_DIR", MFN_PLUGIN_DIR); }

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// File layout (little endian): "MFNCROP1", u32 count, u32 width, u32 height,
// u32 channels, then per crop: u32 name length, name bytes, 10 float32
// landmarks, width*height*channels pixel bytes.
bool load_crops(Crops* out, std::string* reason) {
  const std::string path = env_or("MFN_CROPS", std::string(MFN_REPO_ROOT) + "/build/lfw-crops.bin");
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *reason = "no crops file at " + path + " (made by scripts/make-test-crops.mjs)";
    return false;
  }
  char magic[8];
  uint32_t count, w, h, c;
  if (!in.read(magic, 8) || std::memcmp(magic, "MFNCROP1", 8) != 0 || !read_u32(in, &count) ||
      !read_u32(in, &w) || !read_u32(in, &h) || !read_u32(in, &c) || w == 0 || h == 0 || w > 4096 ||
      h > 4096 || (c != 3 && c != 4) || count > 100000) {
    *reason = "malformed crops file " + path;
    return false;
  }
  out->width = static_cast<int>(w);
  out->height = static_cast<int>(h);
  out->channels = static_cast<int>(c);
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t name_len;
    if (!read_u32(in, &name_len) || name_len > 4096) break;
    std::string name(name_len, '\0');
    std::vector<float> marks(10);
    std::vector<uint8_t> pixels(static_cast<size_t>(w) * h * c);
    if (!in.read(&name[0], name_len) || !in.read(reinterpret_cast<char*>(marks.data()), 40) ||
        !in.read(reinterpret_cast<char*>(pixels.data()), static_cast<std::streamsize>(pixels.size()))) {
      break;
    }
    out->names.push_back(std::move(name));
    out->landmarks.push_back(std::move(marks));
    out->pixels.push_back(std::move(pixels));
  }
  if (out->pixels.size() != count) {
    *reason = "truncated crops file " + path;
    return false;
  }
  return true;
}

}  // namespace mfn_test
