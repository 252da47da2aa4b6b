// A bounds-checked reader for the subset of ONNX (protobuf wire format) the
// engine needs. Own decoder, no libprotobuf: every length, tag and varint is
// checked against the buffer, so a truncated or hostile file yields
// MFN_MODEL_INVALID, never a crash or an unbounded allocation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mfn/status.h"

namespace mfn {

// ONNX TensorProto.DataType values the engine reads.
enum OnnxDataType : int32_t { kOnnxFloat = 1, kOnnxInt32 = 6, kOnnxInt64 = 7, kOnnxDouble = 11 };

struct OnnxTensor {
  std::string name;
  int32_t data_type = 0;
  std::vector<int64_t> dims;
  // Decoded from raw_data or the typed repeated fields, whichever is present:
  std::vector<float> floats;     // FLOAT (and DOUBLE, narrowed)
  std::vector<int64_t> ints;     // INT64 / INT32
  int64_t element_count() const;
};

struct OnnxAttribute {
  std::string name;
  int32_t type = 0;              // AttributeProto.AttributeType
  float f = 0;
  int64_t i = 0;
  std::string s;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  bool has_tensor = false;
  OnnxTensor t;
};

struct OnnxNode {
  std::string name;
  std::string op_type;
  std::string domain;
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<OnnxAttribute> attributes;
  const OnnxAttribute* attribute(const std::string& attr_name) const;  // nullptr if absent
};

struct OnnxValueInfo {
  std::string name;
  int32_t elem_type = 0;
  std::vector<int64_t> dims;     // -1 for a symbolic or missing dimension
};

struct OnnxGraph {
  std::string name;
  std::vector<OnnxNode> nodes;
  std::vector<OnnxTensor> initializers;
  std::vector<OnnxValueInfo> inputs;   // graph inputs (may include initializers in old IRs)
  std::vector<OnnxValueInfo> outputs;
};

struct OnnxModel {
  int64_t ir_version = 0;
  std::vector<std::pair<std::string, int64_t>> opsets;  // (domain, version)
  std::string producer_name;
  OnnxGraph graph;
};

Status read_onnx(const uint8_t* data, size_t size, OnnxModel* out);
Status read_onnx_file(const std::string& path, OnnxModel* out);

}  // namespace mfn
