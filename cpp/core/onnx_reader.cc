// ONNX protobuf decoding for the subset the engine reads. Runs once, on the
// thread that loads the model. Every read is checked against the end of the
// enclosing message, so the worst a hostile file can do is be rejected.
//
// Field numbers follow onnx.proto (ONNX 1.x):
//   ModelProto      ir_version=1 producer_name=2 graph=7 opset_import=8
//   OperatorSetId   domain=1 version=2
//   GraphProto      node=1 name=2 initializer=5 input=11 output=12
//   NodeProto       input=1 output=2 name=3 op_type=4 attribute=5 domain=7
//   AttributeProto  name=1 f=2 i=3 s=4 t=5 floats=7 ints=8 type=20
//   TensorProto     dims=1 data_type=2 float_data=4 int32_data=5
//                   int64_data=7 name=8 raw_data=9 double_data=10
//                   external_data=13 data_location=14
//   ValueInfoProto  name=1 type=2; TypeProto tensor_type=1;
//   TypeProto.Tensor elem_type=1 shape=2; TensorShapeProto dim=1;
//   Dimension       dim_value=1 dim_param=2
// Unknown fields are skipped without being descended into, so nesting depth
// is bounded by this schema (at most six levels); group wire types, which
// would need recursion to skip, are rejected.
#include "core/onnx_reader.h"

#include <cstring>
#include <limits>

#include "core/model_file.h"

namespace mfn {
namespace {

enum Wire : int { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

// Largest tensor the engine accepts (elements); far above any face model.
constexpr int64_t kMaxElements = int64_t(1) << 31;

Status invalid_at(const std::string& what, size_t offset) {
  return Status(Code::model_invalid, what + " at byte " + std::to_string(offset));
}

// Reads one message: bytes [pos, end) of `data`, offsets absolute in the file.
class Decoder {
 public:
  Decoder(const uint8_t* data, size_t begin, size_t end) : data_(data), pos_(begin), end_(end) {}

  bool done() const { return pos_ >= end_; }
  size_t pos() const { return pos_; }
  size_t tag_pos() const { return tag_pos_; }

  Status varint(uint64_t* out) {
    const size_t start = pos_;
    uint64_t value = 0;
    for (int i = 0;; ++i) {
      if (pos_ >= end_) return invalid_at("truncated varint", start);
      const uint8_t byte = data_[pos_++];
      if (i == 9 && (byte & 0x80)) return invalid_at("varint longer than 10 bytes", start);
      if (i == 9 && byte > 1) return invalid_at("varint overflows 64 bits", start);
      value |= static_cast<uint64_t>(byte & 0x7f) << (7 * i);
      if (!(byte & 0x80)) {
        *out = value;
        return Status::ok();
      }
    }
  }

  Status tag(uint32_t* field, int* wire) {
    tag_pos_ = pos_;
    uint64_t v = 0;
    MFN_RETURN_IF_ERROR(varint(&v));
    *field = static_cast<uint32_t>(v >> 3);
    *wire = static_cast<int>(v & 7);
    if (v >> 3 == 0 || v >> 3 > 0x1fffffff) return invalid_at("invalid field number", tag_pos_);
    if (*wire == 3 || *wire == 4) return invalid_at("group wire type is not supported", tag_pos_);
    if (*wire != kVarint && *wire != kFixed64 && *wire != kLen && *wire != kFixed32) {
      return invalid_at("invalid wire type " + std::to_string(*wire), tag_pos_);
    }
    return Status::ok();
  }

  Status fixed32(uint32_t* out) {
    if (end_ - pos_ < 4) return invalid_at("truncated 32-bit value", pos_);
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(data_[pos_ + i]) << (8 * i);
    pos_ += 4;
    *out = v;
    return Status::ok();
  }

  Status fixed64(uint64_t* out) {
    if (end_ - pos_ < 8) return invalid_at("truncated 64-bit value", pos_);
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
    pos_ += 8;
    *out = v;
    return Status::ok();
  }

  // A length-delimited payload: its bytes as [*begin, *begin + *size).
  Status bytes(size_t* begin, size_t* size) {
    const size_t start = pos_;
    uint64_t len = 0;
    MFN_RETURN_IF_ERROR(varint(&len));
    if (len > end_ - pos_) {
      return invalid_at("length " + std::to_string(len) + " runs past the end of its message", start);
    }
    *begin = pos_;
    *size = static_cast<size_t>(len);
    pos_ += *size;
    return Status::ok();
  }

  Status sub(Decoder* out) {
    size_t begin = 0, size = 0;
    MFN_RETURN_IF_ERROR(bytes(&begin, &size));
    *out = Decoder(data_, begin, begin + size);
    return Status::ok();
  }

  Status string(std::string* out) {
    size_t begin = 0, size = 0;
    MFN_RETURN_IF_ERROR(bytes(&begin, &size));
    out->assign(reinterpret_cast<const char*>(data_ + begin), size);
    return Status::ok();
  }

  Status skip(int wire) {
    uint64_t ignored = 0;
    uint32_t ignored32 = 0;
    size_t begin = 0, size = 0;
    switch (wire) {
      case kVarint: return varint(&ignored);
      case kFixed64: return fixed64(&ignored);
      case kFixed32: return fixed32(&ignored32);
      default: return bytes(&begin, &size);
    }
  }

  // A known field arrived with the wrong wire type.
  Status expect(int wire, int want, const char* field) const {
    if (wire == want) return Status::ok();
    return invalid_at(std::string("wrong wire type for ") + field, tag_pos_);
  }

  const uint8_t* data() const { return data_; }

 private:
  const uint8_t* data_;
  size_t pos_;
  size_t end_;
  size_t tag_pos_ = 0;
};

Status read_int(Decoder& d, int wire, const char* field, int64_t* out) {
  MFN_RETURN_IF_ERROR(d.expect(wire, kVarint, field));
  uint64_t v = 0;
  MFN_RETURN_IF_ERROR(d.varint(&v));
  *out = static_cast<int64_t>(v);
  return Status::ok();
}

Status read_int32(Decoder& d, int wire, const char* field, int32_t* out) {
  int64_t v = 0;
  MFN_RETURN_IF_ERROR(read_int(d, wire, field, &v));
  *out = static_cast<int32_t>(v);
  return Status::ok();
}

Status read_string(Decoder& d, int wire, const char* field, std::string* out) {
  MFN_RETURN_IF_ERROR(d.expect(wire, kLen, field));
  return d.string(out);
}

// repeated int64/int32, packed (wire 2) or one value per tag (wire 0).
Status read_repeated_ints(Decoder& d, int wire, const char* field, bool as_int32, std::vector<int64_t>* out) {
  auto convert = [as_int32](uint64_t v) {
    return as_int32 ? static_cast<int64_t>(static_cast<int32_t>(v)) : static_cast<int64_t>(v);
  };
  if (wire == kVarint) {
    uint64_t v = 0;
    MFN_RETURN_IF_ERROR(d.varint(&v));
    out->push_back(convert(v));
    return Status::ok();
  }
  MFN_RETURN_IF_ERROR(d.expect(wire, kLen, field));
  Decoder packed(nullptr, 0, 0);
  MFN_RETURN_IF_ERROR(d.sub(&packed));
  while (!packed.done()) {
    uint64_t v = 0;
    MFN_RETURN_IF_ERROR(packed.varint(&v));
    out->push_back(convert(v));
  }
  return Status::ok();
}

Status read_repeated_floats(Decoder& d, int wire, const char* field, std::vector<float>* out) {
  uint32_t bits = 0;
  float f = 0;
  if (wire == kFixed32) {
    MFN_RETURN_IF_ERROR(d.fixed32(&bits));
    std::memcpy(&f, &bits, 4);
    out->push_back(f);
    return Status::ok();
  }
  MFN_RETURN_IF_ERROR(d.expect(wire, kLen, field));
  Decoder packed(nullptr, 0, 0);
  const size_t start = d.pos();
  MFN_RETURN_IF_ERROR(d.sub(&packed));
  if ((d.pos() - packed.pos()) % 4 != 0) {
    return invalid_at(std::string("packed ") + field + " is not a whole number of floats", start);
  }
  out->reserve(out->size() + (d.pos() - packed.pos()) / 4);
  while (!packed.done()) {
    MFN_RETURN_IF_ERROR(packed.fixed32(&bits));
    std::memcpy(&f, &bits, 4);
    out->push_back(f);
  }
  return Status::ok();
}

Status read_repeated_doubles(Decoder& d, int wire, const char* field, std::vector<double>* out) {
  uint64_t bits = 0;
  double v = 0;
  if (wire == kFixed64) {
    MFN_RETURN_IF_ERROR(d.fixed64(&bits));
    std::memcpy(&v, &bits, 8);
    out->push_back(v);
    return Status::ok();
  }
  MFN_RETURN_IF_ERROR(d.expect(wire, kLen, field));
  Decoder packed(nullptr, 0, 0);
  const size_t start = d.pos();
  MFN_RETURN_IF_ERROR(d.sub(&packed));
  if ((d.pos() - packed.pos()) % 8 != 0) {
    return invalid_at(std::string("packed ") + field + " is not a whole number of doubles", start);
  }
  while (!packed.done()) {
    MFN_RETURN_IF_ERROR(packed.fixed64(&bits));
    std::memcpy(&v, &bits, 8);
    out->push_back(v);
  }
  return Status::ok();
}

template <typename T>
std::vector<T> decode_le(const uint8_t* p, size_t count) {
  std::vector<T> out(count);
  // Little-endian on every platform the engine targets (x86-64, arm64).
  if (count) std::memcpy(out.data(), p, count * sizeof(T));
  return out;
}

Status parse_tensor(Decoder d, OnnxTensor* t) {
  const size_t start = d.pos();
  std::vector<float> float_data;
  std::vector<double> double_data;
  std::vector<int64_t> int32_data, int64_data;
  size_t raw_begin = 0, raw_size = 0;
  bool has_raw = false, external = false;
  while (!d.done()) {
    uint32_t field = 0;
    int wire = 0;
    MFN_RETURN_IF_ERROR(d.tag(&field, &wire));
    switch (field) {
      case 1: MFN_RETURN_IF_ERROR(read_repeated_ints(d, wire, "TensorProto.dims", false, &t->dims)); break;
      case 2: MFN_RETURN_IF_ERROR(read_int32(d, wire, "TensorProto.data_type", &t->data_type)); break;
      case 4: MFN_RETURN_IF_ERROR(read_repeated_floats(d, wire, "TensorProto.float_data", &float_data)); break;
      case 5: MFN_RETURN_IF_ERROR(read_repeated_ints(d, wire, "TensorProto.int32_data", true, &int32_data)); break;
      case 7: MFN_RETURN_IF_ERROR(read_repeated_ints(d, wire, "TensorProto.int64_data", false, &int64_data)); break;
      case 8: MFN_RETURN_IF_ERROR(read_string(d, wire, "TensorProto.name", &t->name)); break;
      case 9:
        MFN_RETURN_IF_ERROR(d.expect(wire, kLen, "TensorProto.raw_data"));
        MFN_RETURN_IF_ERROR(d.bytes(&raw_begin, &raw_size));
        has_raw = true;
        break;
      case 10: MFN_RETURN_IF_ERROR(read_repeated_doubles(d, wire, "TensorProto.double_data", &double_data)); break;
      case 13:
        MFN_RETURN_IF_ERROR(d.expect(wire, kLen, "TensorProto.external_data"));
        MFN_RETURN_IF_ERROR(d.skip(wire));
        external = true;
        break;
      case 14: {
        int32_t location = 0;
        MFN_RETURN_IF_ERROR(read_int32(d, wire, "TensorProto.data_location", &location));
        if (location != 0) external = true;
        break;
      }
      default: MFN_RETURN_IF_ERROR(d.skip(wire));
    }
  }
  if (external) {
    return Status(Code::model_unsupported, "tensor '" + t->name + "' keeps its data in an external file");
  }
  int64_t count = 1;
  for (int64_t dim : t->dims) {
    if (dim < 0 || (dim > 0 && count > kMaxElements / dim)) {
      return invalid_at("tensor '" + t->name + "' has invalid dims", start);
    }
    count *= dim;
  }
  if (count > kMaxElements) return invalid_at("tensor '" + t->name + "' is too large", start);

  // Decode the element types the engine uses; others stay undecoded.
  size_t elem_size = 0;
  size_t typed_count = 0;
  switch (t->data_type) {
    case kOnnxFloat: elem_size = 4; typed_count = float_data.size(); break;
    case kOnnxDouble: elem_size = 8; typed_count = double_data.size(); break;
    case kOnnxInt32: elem_size = 4; typed_count = int32_data.size(); break;
    case kOnnxInt64: elem_size = 8; typed_count = int64_data.size(); break;
    default: return Status::ok();
  }
  const size_t n = static_cast<size_t>(count);
  if (has_raw) {
    if (raw_size != n * elem_size) {
      return invalid_at("tensor '" + t->name + "' has " + std::to_string(raw_size) + " bytes of raw_data for " +
                            std::to_string(count) + " elements",
                        start);
    }
    const uint8_t* raw = d.data() + raw_begin;
    switch (t->data_type) {
      case kOnnxFloat: t->floats = decode_le<float>(raw, n); break;
      case kOnnxDouble: {
        std::vector<double> v = decode_le<double>(raw, n);
        t->floats.assign(v.begin(), v.end());
        break;
      }
      case kOnnxInt32: {
        std::vector<int32_t> v = decode_le<int32_t>(raw, n);
        t->ints.assign(v.begin(), v.end());
        break;
      }
      default: t->ints = decode_le<int64_t>(raw, n);
    }
    return Status::ok();
  }
  if (typed_count != n) {
    return invalid_at("tensor '" + t->name + "' has " + std::to_string(typed_count) + " values for " +
                          std::to_string(count) + " elements",
                      start);
  }
  switch (t->data_type) {
    case kOnnxFloat: t->floats = std::move(float_data); break;
    case kOnnxDouble: t->floats.assign(double_data.begin(), double_data.end()); break;
    case kOnnxInt32: t->ints = std::move(int32_data); break;
    default: t->ints = std::move(int64_data);
  }
  return Status::ok();
}

Status parse_attribute(Decoder d, OnnxAttribute* a) {
  while (!d.done()) {
    uint32_t field = 0;
    int wire = 0;
    MFN_RETURN_IF_ERROR(d.tag(&field, &wire));
    switch (field) {
      case 1: MFN_RETURN_IF_ERROR(read_string(d, wire, "AttributeProto.name", &a->name)); break;
      case 2: {
        MFN_RETURN_IF_ERROR(d.expect(wire, kFixed32, "AttributeProto.f"));
        uint32_t bits = 0;
        MFN_RETURN_IF_ERROR(d.fixed32(&bits));
        std::memcpy(&a->f, &bits, 4);
        break;
      }
      case 3: MFN_RETURN_IF_ERROR(read_int(d, wire, "AttributeProto.i", &a->i)); break;
      case 4: MFN_RETURN_IF_ERROR(read_string(d, wire, "AttributeProto.s", &a->s)); break;
      case 5: {
        MFN_RETURN_IF_ERROR(d.expect(wire, kLen, "AttributeProto.t"));
        Decoder sub(nullptr, 0, 0);
        MFN_RETURN_IF_ERROR(d.sub(&sub));
        MFN_RETURN_IF_ERROR(parse_tensor(sub, &a->t));
        a->has_tensor = true;
        break;
      }
      case 7: MFN_RETURN_IF_ERROR(read_repeated_floats(d, wire, "AttributeProto.floats", &a->floats)); break;
      case 8: MFN_RETURN_IF_ERROR(read_repeated_ints(d, wire, "AttributeProto.ints", false, &a->ints)); break;
      case 20: MFN_RETURN_IF_ERROR(read_int32(d, wire, "AttributeProto.type", &a->type)); break;
      default: MFN_RETURN_IF_ERROR(d.skip(wire));
    }
  }
  return Status::ok();
}

Status parse_node(Decoder d, OnnxNode* n) {
  while (!d.done()) {
    uint32_t field = 0;
    int wire = 0;
    MFN_RETURN_IF_ERROR(d.tag(&field, &wire));
    switch (field) {
      case 1:
        n->inputs.emplace_back();
        MFN_RETURN_IF_ERROR(read_string(d, wire, "NodeProto.input", &n->inputs.back()));
        break;
      case 2:
        n->outputs.emplace_back();
        MFN_RETURN_IF_ERROR(read_string(d, wire, "NodeProto.output", &n->outputs.back()));
        break;
      case 3: MFN_RETURN_IF_ERROR(read_string(d, wire, "NodeProto.name", &n->name)); break;
      case 4: MFN_RETURN_IF_ERROR(read_string(d, wire, "NodeProto.op_type", &n->op_type)); break;
      case 5: {
        MFN_RETURN_IF_ERROR(d.expect(wire, kLen, "NodeProto.attribute"));
        Decoder sub(nullptr, 0, 0);
        MFN_RETURN_IF_ERROR(d.sub(&sub));
        n->attributes.emplace_back();
        MFN_RETURN_IF_ERROR(parse_attribute(sub, &n->attributes.back()));
        break;
      }
      case 7: MFN_RETURN_IF_ERROR(read_string(d, wire, "NodeProto.domain", &n->domain)); break;
      default: MFN_RETURN_IF_ERROR(d.skip(wire));
    }
  }
  return Status::ok();
}

// Walks a message, handing each field to `on_field`, which returns false for
// fields to skip. Keeps the small nested shape messages below short.
template <typename F>
Status for_each_field(Decoder d, F on_field) {
  while (!d.done()) {
    uint32_t field = 0;
    int wire = 0;
    MFN_RETURN_IF_ERROR(d.tag(&field, &wire));
    bool handled = false;
    MFN_RETURN_IF_ERROR(on_field(d, field, wire, &handled));
    if (!handled) MFN_RETURN_IF_ERROR(d.skip(wire));
  }
  return Status::ok();
}

Status parse_dimension(Decoder d, int64_t* dim) {
  *dim = -1;  // a dim_param or an absent value: unknown
  return for_each_field(d, [dim](Decoder& m, uint32_t field, int wire, bool* handled) {
    if (field != 1) return Status::ok();
    *handled = true;
    return read_int(m, wire, "Dimension.dim_value", dim);
  });
}

Status parse_shape(Decoder d, std::vector<int64_t>* dims) {
  return for_each_field(d, [dims](Decoder& m, uint32_t field, int wire, bool* handled) {
    if (field != 1) return Status::ok();
    *handled = true;
    MFN_RETURN_IF_ERROR(m.expect(wire, kLen, "TensorShapeProto.dim"));
    Decoder sub(nullptr, 0, 0);
    MFN_RETURN_IF_ERROR(m.sub(&sub));
    dims->push_back(-1);
    return parse_dimension(sub, &dims->back());
  });
}

Status parse_tensor_type(Decoder d, OnnxValueInfo* v) {
  return for_each_field(d, [v](Decoder& m, uint32_t field, int wire, bool* handled) {
    if (field == 1) {
      *handled = true;
      return read_int32(m, wire, "TypeProto.Tensor.elem_type", &v->elem_type);
    }
    if (field != 2) return Status::ok();
    *handled = true;
    MFN_RETURN_IF_ERROR(m.expect(wire, kLen, "TypeProto.Tensor.shape"));
    Decoder sub(nullptr, 0, 0);
    MFN_RETURN_IF_ERROR(m.sub(&sub));
    v->dims.clear();
    return parse_shape(sub, &v->dims);
  });
}

Status parse_type(Decoder d, OnnxValueInfo* v) {
  return for_each_field(d, [v](Decoder& m, uint32_t field, int wire, bool* handled) {
    if (field != 1) return Status::ok();
    *handled = true;
    MFN_RETURN_IF_ERROR(m.expect(wire, kLen, "TypeProto.tensor_type"));
    Decoder sub(nullptr, 0, 0);
    MFN_RETURN_IF_ERROR(m.sub(&sub));
    return parse_tensor_type(sub, v);
  });
}

Status parse_value_info(Decoder d, OnnxValueInfo* v) {
  return for_each_field(d, [v](Decoder& m, uint32_t field, int wire, bool* handled) {
    if (field == 1) {
      *handled = true;
      return read_string(m, wire, "ValueInfoProto.name", &v->name);
    }
    if (field != 2) return Status::ok();
    *handled = true;
    MFN_RETURN_IF_ERROR(m.expect(wire, kLen, "ValueInfoProto.type"));
    Decoder sub(nullptr, 0, 0);
    MFN_RETURN_IF_ERROR(m.sub(&sub));
    return parse_type(sub, v);
  });
}

// Parses the sub-message at the decoder's position into a new element of `list`.
template <typename T, typename Parse>
Status parse_into(Decoder& d, int wire, const char* field, std::vector<T>* list, Parse parse) {
  MFN_RETURN_IF_ERROR(d.expect(wire, kLen, field));
  Decoder sub(nullptr, 0, 0);
  MFN_RETURN_IF_ERROR(d.sub(&sub));
  list->emplace_back();
  return parse(sub, &list->back());
}

Status parse_graph(Decoder d, OnnxGraph* g) {
  while (!d.done()) {
    uint32_t field = 0;
    int wire = 0;
    MFN_RETURN_IF_ERROR(d.tag(&field, &wire));
    switch (field) {
      case 1: MFN_RETURN_IF_ERROR(parse_into(d, wire, "GraphProto.node", &g->nodes, parse_node)); break;
      case 2: MFN_RETURN_IF_ERROR(read_string(d, wire, "GraphProto.name", &g->name)); break;
      case 5:
        MFN_RETURN_IF_ERROR(parse_into(d, wire, "GraphProto.initializer", &g->initializers, parse_tensor));
        break;
      case 11: MFN_RETURN_IF_ERROR(parse_into(d, wire, "GraphProto.input", &g->inputs, parse_value_info)); break;
      case 12: MFN_RETURN_IF_ERROR(parse_into(d, wire, "GraphProto.output", &g->outputs, parse_value_info)); break;
      default: MFN_RETURN_IF_ERROR(d.skip(wire));
    }
  }
  return Status::ok();
}

Status parse_opset(Decoder d, std::pair<std::string, int64_t>* opset) {
  return for_each_field(d, [opset](Decoder& m, uint32_t field, int wire, bool* handled) {
    if (field == 1) {
      *handled = true;
      return read_string(m, wire, "OperatorSetIdProto.domain", &opset->first);
    }
    if (field != 2) return Status::ok();
    *handled = true;
    return read_int(m, wire, "OperatorSetIdProto.version", &opset->second);
  });
}

}  // namespace

int64_t OnnxTensor::element_count() const {
  int64_t count = 1;
  for (int64_t dim : dims) {
    if (dim < 0 || (dim > 0 && count > std::numeric_limits<int64_t>::max() / dim)) return -1;
    count *= dim;
  }
  return count;
}

const OnnxAttribute* OnnxNode::attribute(const std::string& attr_name) const {
  for (const OnnxAttribute& a : attributes) {
    if (a.name == attr_name) return &a;
  }
  return nullptr;
}

Status read_onnx(const uint8_t* data, size_t size, OnnxModel* out) {
  *out = OnnxModel();
  if (data == nullptr || size == 0) return invalid_at("empty model", 0);
  Decoder d(data, 0, size);
  bool has_graph = false;
  while (!d.done()) {
    uint32_t field = 0;
    int wire = 0;
    MFN_RETURN_IF_ERROR(d.tag(&field, &wire));
    switch (field) {
      case 1: MFN_RETURN_IF_ERROR(read_int(d, wire, "ModelProto.ir_version", &out->ir_version)); break;
      case 2: MFN_RETURN_IF_ERROR(read_string(d, wire, "ModelProto.producer_name", &out->producer_name)); break;
      case 7: {
        MFN_RETURN_IF_ERROR(d.expect(wire, kLen, "ModelProto.graph"));
        Decoder sub(nullptr, 0, 0);
        MFN_RETURN_IF_ERROR(d.sub(&sub));
        // A repeated singular message merges in protobuf; ONNX files have one.
        if (has_graph) return invalid_at("second graph in model", d.tag_pos());
        MFN_RETURN_IF_ERROR(parse_graph(sub, &out->graph));
        has_graph = true;
        break;
      }
      case 8: MFN_RETURN_IF_ERROR(parse_into(d, wire, "ModelProto.opset_import", &out->opsets, parse_opset)); break;
      default: MFN_RETURN_IF_ERROR(d.skip(wire));
    }
  }
  if (!has_graph) return invalid_at("model has no graph", size);
  // Required by ONNX since IR 3; its absence also exposes a file cut short
  // right after the graph.
  if (out->opsets.empty()) return invalid_at("model has no opset_import", size);
  return Status::ok();
}

Status read_onnx_file(const std::string& path, OnnxModel* out) {
  std::vector<uint8_t> bytes;
  MFN_RETURN_IF_ERROR(read_regular_file(path, "model file", kMaxModelFileBytes, &bytes));
  Status s = read_onnx(bytes.data(), bytes.size(), out);
  if (!s.is_ok()) return Status(s.code(), path + ": " + s.message());
  return s;
}

}  // namespace mfn
