// Turns the binding's image objects ({ data, width, height, channels, order,
// landmarks? }) into mfn::ImageInput on the JavaScript thread. Pixels are
// read in place: the ImageInput points into the caller's typed array, so the
// caller must keep that array alive (workers hold a reference) until the
// engine is done with it.
#pragma once

#include <napi.h>

#include <string>

#include "mfn/engine.h"

namespace mfn_node {

// Throws an Error with .code on a malformed image: MFN_INVALID_ARGUMENT
// (wrong types), MFN_INVALID_DIMENSIONS (sides < 1, fewer bytes than
// width*height*channels), MFN_INVALID_CHANNELS (not 3 or 4),
// MFN_INVALID_LANDMARKS (landmarks present but not a Float32Array of 10).
// `landmarks` is storage for 10 floats that must outlive the returned
// ImageInput; it is used only when the image carries landmarks.
// `pixels` receives the typed array the ImageInput points into.
mfn::ImageInput parse_image(Napi::Env env, const Napi::Value& value, const std::string& name, float* landmarks,
                            Napi::Value* pixels);

}  // namespace mfn_node
