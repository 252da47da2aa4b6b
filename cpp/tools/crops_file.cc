#include "tools/crops_file.h"

#include <cstring>
#include <fstream>

namespace mfn_tools {
namespace {

bool read_u32(std::ifstream& in, uint32_t* v) {
  unsigned char b[4];
  if (!in.read(reinterpret_cast<char*>(b), 4)) return false;
  *v = b[0] | (b[1] << 8) | (b[2] << 16) | (static_cast<uint32_t>(b[3]) << 24);
  return true;
}

}  // namespace

// Layout (little endian): "MFNCROP1", u32 count, u32 width, u32 height,
// u32 channels, then per crop: u32 name length, name bytes, 10 float32
// landmarks, width*height*channels pixel bytes.
bool read_crops_file(const std::string& path, Crops* out, std::string* reason) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *reason = "no crops file at " + path + " (made by scripts/make-test-crops.mjs)";
    return false;
  }
  char magic[8];
  uint32_t count, w, h, c;
  if (!in.read(magic, 8) || std::memcmp(magic, "MFNCROP1", 8) != 0 || !read_u32(in, &count) || !read_u32(in, &w) ||
      !read_u32(in, &h) || !read_u32(in, &c) || w == 0 || h == 0 || w > 4096 || h > 4096 || (c != 3 && c != 4) ||
      count == 0 || count > 100000) {
    *reason = path + " is not a crops file (MFNCROP1)";
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
    *reason = path + " is truncated";
    return false;
  }
  return true;
}

}  // namespace mfn_tools
