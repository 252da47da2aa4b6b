// models/manifest.json: how the model wants its input. Read with a small
// JSON reader (objects, arrays, strings, numbers, booleans, null).
#pragma once

#include <string>
#include <vector>

#include "mfn/status.h"

namespace mfn {

// Largest model input side: input staging and activations scale with its
// square, times the batch.
constexpr int kMaxInputSide = 1024;
// Largest embedding: every batch's output buffers scale with it.
constexpr int kMaxEmbeddingSize = 65536;

struct Manifest {
  std::string file;              // model file name, e.g. "mobilefacenet.onnx"
  std::string sha256;            // lower-case hex of the model file; empty = not checked
  std::string input_name;
  std::string output_name;       // the embedding; the first of output_names for a detector
  std::vector<std::string> output_names;  // "outputs": a detector's raw outputs, in order
  std::string kind = "embedding";  // "embedding" or "detector"
  std::string layout;            // "NCHW", or "NHWC" (the graph transposes its input itself)
  int height = 0;
  int width = 0;
  std::string channel_order;     // "BGR" or "RGB"
  float mean[3] = {0, 0, 0};     // per model channel; a scalar in JSON fills all three
  float std[3] = {1, 1, 1};
  int embedding_size = 0;        // 0 for a detector
  std::vector<float> align_points;  // detector: "alignPoints", 8 floats (see core/detection.h); empty = default
};

// Missing or malformed file or fields -> MFN_MODEL_INVALID (a FIFO, device or
// directory included; see read_regular_file).
Status read_manifest(const std::string& path, Manifest* out);

// The same from the file's text; `path` only names it in messages.
Status parse_manifest(const std::string& text, const std::string& path, Manifest* out);

}  // namespace mfn
