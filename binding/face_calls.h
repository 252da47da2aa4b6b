// engine.detect / engine.embedFaces / engine.detectorOutputs: one photo per
// call, run on libuv's pool by an AsyncWorker that holds the engine (shared)
// and its own copy of the pixels, taken on the JavaScript thread at call
// time, so that nothing the caller does to its buffer afterwards reaches
// the call. The engine serialises these runs with its embedding batches.
// They do not go through the batching queue: each call is one detector pass
// on its own image, and its faces' embeddings are one engine batch.
#pragma once

#include <napi.h>

#include "engine_wrap.h"

namespace mfn_node {

// engine.detect(image, maxFaces, minScore, cancelToken?) ->
//   Promise<{ boxes: Float32Array(n*5: x, y, width, height, score), landmarks: Float32Array(n*10),
//             keypoints: Float32Array(n*12) (the detector's own six points) }>
// engine.embedFaces(image, maxFaces, minScore, flip, cancelToken?) -> the same plus
//   embeddings: Float32Array(n * dimensions)
// engine.detectorOutputs(image) -> Promise<Float32Array> (raw detector outputs)
// A cancelled token before the run starts rejects with MFN_ABORTED.
Napi::Value face_detect(const Napi::CallbackInfo& info, EngineWrap* owner);
Napi::Value face_embed(const Napi::CallbackInfo& info, EngineWrap* owner);
Napi::Value face_detector_outputs(const Napi::CallbackInfo& info, EngineWrap* owner);

// engine.detectorInput(image, out: Float32Array(3*size*size)): synchronous,
// the letterboxed NCHW input tensor.
Napi::Value face_detector_input(const Napi::CallbackInfo& info, EngineWrap* owner);

}  // namespace mfn_node
