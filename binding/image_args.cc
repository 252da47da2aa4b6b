#include "image_args.h"

#include <algorithm>

#include "napi_util.h"

namespace mfn_node {

namespace {

int32_t get_side(Napi::Env env, const Napi::Value& value, const std::string& name) {
  if (!value.IsNumber()) throw_invalid(env, name, "a positive integer", value);
  return get_int(env, value, name, 1, INT32_MAX, "MFN_INVALID_DIMENSIONS");
}

}  // namespace

mfn::ImageInput parse_image(Napi::Env env, const Napi::Value& value, const std::string& name, float* landmarks,
                            Napi::Value* pixels) {
  Napi::Object object = get_object(env, value, name);

  Napi::Value data = object.Get("data");
  if (!data.IsTypedArray()) throw_invalid(env, name + ".data", "a Uint8Array or Uint8ClampedArray", data);
  Napi::TypedArray typed = data.As<Napi::TypedArray>();
  if (typed.TypedArrayType() != napi_uint8_array && typed.TypedArrayType() != napi_uint8_clamped_array) {
    throw_invalid(env, name + ".data", "a Uint8Array or Uint8ClampedArray", data);
  }

  mfn::ImageInput image;
  image.width = get_side(env, object.Get("width"), name + ".width");
  image.height = get_side(env, object.Get("height"), name + ".height");

  Napi::Value channels = object.Get("channels");
  if (!channels.IsNumber()) throw_invalid(env, name + ".channels", "3 or 4", channels);
  if (!is_integer(channels, 3, 4)) throw_invalid(env, name + ".channels", "3 or 4", channels, "MFN_INVALID_CHANNELS");
  image.channels = channels.As<Napi::Number>().Int32Value();

  std::string order = get_string(env, object.Get("order"), name + ".order");
  if (order == "rgb") {
    image.order = MFN_ORDER_RGB;
  } else if (order == "bgr") {
    image.order = MFN_ORDER_BGR;
  } else {
    throw make_error(env, "MFN_INVALID_ARGUMENT",
                     "Expected \"rgb\" or \"bgr\" for " + name + ".order but received \"" + order + "\"");
  }

  // Sides are < 2^31 and channels <= 4, so the product fits in 64 bits.
  uint64_t needed = static_cast<uint64_t>(image.width) * static_cast<uint64_t>(image.height) *
                    static_cast<uint64_t>(image.channels);
  size_t available = typed.ByteLength();
  if (available < needed) {
    throw make_error(env, "MFN_INVALID_DIMENSIONS",
                     "Expected at least " + std::to_string(needed) + " bytes of pixel data for a " +
                         std::to_string(image.width) + "x" + std::to_string(image.height) + "x" +
                         std::to_string(image.channels) + " image but received " + std::to_string(available));
  }
  image.data = static_cast<const uint8_t*>(typed.ArrayBuffer().Data()) + typed.ByteOffset();
  image.size = available;
  image.row_stride = 0;

  Napi::Value points = object.Get("landmarks");
  if (!points.IsUndefined() && !points.IsNull()) {
    bool ok = points.IsTypedArray() && points.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array &&
              points.As<Napi::Float32Array>().ElementLength() == 10;
    if (!ok) throw_invalid(env, name + ".landmarks", "a Float32Array of 10 values", points, "MFN_INVALID_LANDMARKS");
    Napi::Float32Array array = points.As<Napi::Float32Array>();
    std::copy(array.Data(), array.Data() + 10, landmarks);
    image.landmarks = landmarks;
  }

  *pixels = data;
  return image;
}

}  // namespace mfn_node
