// libFuzzer harness: the raw image descriptor a caller hands the engine
// (sides, channels, order, row stride, byte count, optional landmarks) ->
// Engine::validate and, when valid, Engine::preprocess, which samples the
// pixels through the resize or alignment transform. The engine is the
// shipped model on the CPU, created once.
//
// Input layout: 20 header bytes (width u16, height u16, channels u8, order
// u8, flags u8 [bit 0 landmarks, bit 1 mirror], pad u8, row stride u64,
// size slack u32), 40 bytes of landmarks when flagged, then the pixels.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "mfn/engine.h"

namespace {

mfn::Engine* engine() {
  static std::unique_ptr<mfn::Engine> instance = [] {
    mfn::EngineOptions options;
    options.model_path = MFN_FUZZ_MODEL;
    options.backend = mfn::BackendChoice::cpu;
    options.threads = 1;
    options.max_batch = 1;
    std::unique_ptr<mfn::Engine> e;
    const mfn::Status s = mfn::Engine::create(options, &e);
    if (!s.is_ok()) {
      std::fprintf(stderr, "fuzz_image: cannot load %s: %s\n", MFN_FUZZ_MODEL, s.message().c_str());
      std::abort();
    }
    return e;
  }();
  return instance.get();
}

template <typename T>
T take(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  mfn::Engine* e = engine();
  if (size < 20) return 0;
  mfn::ImageInput image;
  image.width = take<uint16_t>(data);
  image.height = take<uint16_t>(data + 2);
  image.channels = data[4];
  // Any integer a caller may have cast into the enum.
  const int order = data[5];
  static_assert(sizeof(image.order) == sizeof(order), "mfn_pixel_order is an int-sized enum");
  std::memcpy(&image.order, &order, sizeof order);
  const uint8_t flags = data[6];
  image.row_stride = static_cast<size_t>(take<uint64_t>(data + 8));
  // The byte count a caller claims: at most what is really there, less a slack.
  const uint32_t slack = take<uint32_t>(data + 16);
  size_t at = 20;
  float landmarks[10];
  if (flags & 1) {
    if (size < at + sizeof landmarks) return 0;
    std::memcpy(landmarks, data + at, sizeof landmarks);
    image.landmarks = landmarks;
    at += sizeof landmarks;
  }
  // Pixels in their own allocation, so that ASan sees any read past them.
  std::vector<uint8_t> pixels(data + at, data + size);
  image.data = pixels.empty() ? reinterpret_cast<const uint8_t*>("") : pixels.data();
  image.size = pixels.size() > slack ? pixels.size() - slack : 0;
  if (!e->validate(image).is_ok()) return 0;
  std::vector<float> out(static_cast<size_t>(e->input_channels()) * e->input_height() * e->input_width());
  e->preprocess(image, (flags & 2) != 0, out.data());
  return 0;
}
