// Turns the binding's image objects ({ data, width, height, channels, order,
// landmarks? }) into mfn::ImageInput on the JavaScript thread, in two steps
// that every method taking images follows:
//   1. read_image() reads the object's properties. Reading a property can run
//      the caller's JavaScript (a getter, a proxy trap, a property inherited
//      from Object.prototype), which may do anything: dispose the engine,
//      detach or shrink a buffer already read. So callers read every argument
//      first and check nothing before.
//   2. check_image() / own_images() check what was read and take the pixels.
//      They run no JavaScript at all, so nothing can change between a check
//      and the use it protects. own_images() copies the pixels of a call that
//      outlives the JavaScript call (an embed waiting in the queue): the
//      result is that of the pixels as they were when the call was made,
//      whatever the caller does to its buffers afterwards.
// Typed arrays on a SharedArrayBuffer are read like any other.
#pragma once

#include <napi.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mfn/engine.h"

namespace mfn_node {

// Most pixels (width x height) an image may have: 2^25, 32 megapixels. It
// bounds the copy a call makes; src/inputs.ts applies the same bound
// (MAX_PIXELS) to the images it decodes.
constexpr uint64_t kMaxPixels = uint64_t{1} << 25;

// The properties of one image object, as read in step 1.
struct ImageValues {
  Napi::Value data, width, height, channels, order, landmarks;
};

// Step 1: may run the caller's JavaScript. Throws MFN_INVALID_ARGUMENT when
// `value` is not an object.
ImageValues read_image(Napi::Env env, const Napi::Value& value, const std::string& name);

// Step 2, in place: runs no JavaScript. Throws an Error with .code on a
// malformed image: MFN_INVALID_ARGUMENT (wrong types), MFN_INVALID_DIMENSIONS
// (sides < 1, more than kMaxPixels, fewer bytes than width*height*channels,
// a detached buffer), MFN_INVALID_CHANNELS (not 3 or 4),
// MFN_INVALID_LANDMARKS (present but not a Float32Array of 10). The result
// points into the caller's typed array, so it is valid only until
// JavaScript runs again; `landmarks` is storage for 10 floats that must
// outlive it.
mfn::ImageInput check_image(Napi::Env env, const ImageValues& values, const std::string& name, float* landmarks);

// Images that own their pixels and landmarks: the pointers in `images` stay
// valid when the struct is moved.
struct OwnedImages {
  std::vector<mfn::ImageInput> images;
  std::unique_ptr<uint8_t[]> pixels;  // every image's width*height*channels bytes, one after the other
  std::vector<float> landmarks;  // 10 per image
};

// Step 2 for a call that outlives the JavaScript call: checks every image
// like check_image(), then copies each distinct image's pixels once (an
// array naming the same pixels many times costs one copy). Runs no
// JavaScript. Errors name the image with name_of(i); throws std::bad_alloc
// when the copy cannot be allocated (the caller turns it into
// MFN_OUT_OF_MEMORY).
OwnedImages own_images(Napi::Env env, const std::vector<ImageValues>& values,
                       const std::function<std::string(size_t)>& name_of);

}  // namespace mfn_node
