#include "image_args.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "napi_util.h"

namespace mfn_node {

namespace {

int32_t get_side(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber()) throw_invalid(env, name, "a positive integer", value);
  return get_int(env, value, name, 1, INT32_MAX, "MFN_INVALID_DIMENSIONS");
}

// The bytes a typed array views now. napi_get_typedarray_info reads the
// array's own slots (no JavaScript runs) and, unlike Napi::ArrayBuffer, also
// works for a SharedArrayBuffer. A detached or out-of-bounds view has 0 bytes.
struct Bytes {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

Bytes bytes_of(Napi::Env env, const Napi::Value& value, const std::string& name) {
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_status status = napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr);
  if (status != napi_ok) throw_invalid(env, name, "a Uint8Array or Uint8ClampedArray", value);
  if (type != napi_uint8_array && type != napi_uint8_clamped_array) {
    throw_invalid(env, name, "a Uint8Array or Uint8ClampedArray", value);
  }
  return {static_cast<const uint8_t*>(data), data == nullptr ? 0 : length};
}

// width * height * channels, after checking the pixel count.
size_t pixel_bytes(Napi::Env env, const mfn::ImageInput& image) {
  const uint64_t pixels = static_cast<uint64_t>(image.width) * static_cast<uint64_t>(image.height);
  if (pixels > kMaxPixels) {
    throw make_error(env, "MFN_INVALID_DIMENSIONS",
                     "Expected at most " + std::to_string(kMaxPixels) + " pixels but received a " +
                         std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
  }
  return static_cast<size_t>(pixels) * static_cast<size_t>(image.channels);
}

}  // namespace

ImageValues read_image(Napi::Env env, const Napi::Value& value, const std::string& name) {
  Napi::Object object = get_object(env, value, name);
  ImageValues values;
  values.data = object.Get("data");
  values.width = object.Get("width");
  values.height = object.Get("height");
  values.channels = object.Get("channels");
  values.order = object.Get("order");
  values.landmarks = object.Get("landmarks");
  return values;
}

mfn::ImageInput check_image(Napi::Env env, const ImageValues& values, const std::string& name, float* landmarks) {
  if (!values.data.IsTypedArray()) {
    throw_invalid(env, name + ".data", "a Uint8Array or Uint8ClampedArray", values.data);
  }
  Bytes bytes = bytes_of(env, values.data, name + ".data");

  mfn::ImageInput image;
  image.width = get_side(env, values.width, name + ".width");
  image.height = get_side(env, values.height, name + ".height");

  if (!values.channels.IsNumber()) throw_invalid(env, name + ".channels", "3 or 4", values.channels);
  if (!is_integer(values.channels, 3, 4)) {
    throw_invalid(env, name + ".channels", "3 or 4", values.channels, "MFN_INVALID_CHANNELS");
  }
  image.channels = values.channels.As<Napi::Number>().Int32Value();

  std::string order = get_string(env, values.order, name + ".order");
  if (order == "rgb") {
    image.order = MFN_ORDER_RGB;
  } else if (order == "bgr") {
    image.order = MFN_ORDER_BGR;
  } else {
    throw make_error(env, "MFN_INVALID_ARGUMENT",
                     "Expected \"rgb\" or \"bgr\" for " + name + ".order but received \"" + order + "\"");
  }

  const size_t needed = pixel_bytes(env, image);
  if (bytes.size < needed) {
    throw make_error(env, "MFN_INVALID_DIMENSIONS",
                     "Expected at least " + std::to_string(needed) + " bytes of pixel data for a " +
                         std::to_string(image.width) + "x" + std::to_string(image.height) + "x" +
                         std::to_string(image.channels) + " image but received " + std::to_string(bytes.size));
  }
  image.data = bytes.data;
  image.size = needed;
  image.row_stride = 0;

  const Napi::Value& points = values.landmarks;
  if (!points.IsUndefined() && !points.IsNull()) {
    bool ok = points.IsTypedArray() && points.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array &&
              points.As<Napi::Float32Array>().ElementLength() == 10;
    if (!ok) throw_invalid(env, name + ".landmarks", "a Float32Array of 10 values", points, "MFN_INVALID_LANDMARKS");
    Napi::Float32Array array = points.As<Napi::Float32Array>();
    std::copy(array.Data(), array.Data() + 10, landmarks);
    image.landmarks = landmarks;
  }
  return image;
}

OwnedImages own_images(Napi::Env env, const std::vector<ImageValues>& values,
                       const std::function<std::string(size_t)>& name_of) {
  OwnedImages owned;
  const size_t n = values.size();
  owned.images.resize(n);
  owned.landmarks.resize(n * 10);
  // One copy per distinct source: an array that names the same pixels many
  // times must not multiply the memory the call takes.
  std::map<std::pair<const uint8_t*, size_t>, size_t> offsets;
  std::vector<size_t> offset_of(n);
  size_t total = 0;
  for (size_t i = 0; i < n; ++i) {
    mfn::ImageInput& image = owned.images[i];
    image = check_image(env, values[i], name_of(i), &owned.landmarks[i * 10]);
    auto [at, added] = offsets.emplace(std::make_pair(image.data, image.size), total);
    if (added) total += image.size;
    offset_of[i] = at->second;
  }
  // One allocation for the whole call, not zeroed (every byte is written
  // below). No JavaScript has run since the checks, so every source still
  // has the bytes they counted.
  owned.pixels.reset(new uint8_t[total == 0 ? 1 : total]);  // std::bad_alloc: see own_images() in the header
  for (const auto& [source, offset] : offsets) {
    if (source.second > 0) std::memcpy(owned.pixels.get() + offset, source.first, source.second);
  }
  for (size_t i = 0; i < n; ++i) owned.images[i].data = owned.pixels.get() + offset_of[i];
  return owned;
}

}  // namespace mfn_node
