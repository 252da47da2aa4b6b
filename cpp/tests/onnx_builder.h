// Builds small ONNX files byte by byte for the reader and lowering tests: a
// protobuf wire-format writer plus helpers for the ONNX messages. Field
// numbers are written out here independently of the reader, so that a wrong
// number on either side shows up as a failed test.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace mfn_test {

// One protobuf message under construction.
class Pb {
 public:
  static std::string varint_bytes(uint64_t v) {
    std::string out;
    do {
      uint8_t byte = v & 0x7f;
      v >>= 7;
      if (v) byte |= 0x80;
      out.push_back(static_cast<char>(byte));
    } while (v);
    return out;
  }

  Pb& tag(uint32_t field, int wire) { return raw(varint_bytes((static_cast<uint64_t>(field) << 3) | wire)); }
  Pb& varint(uint32_t field, uint64_t v) { return tag(field, 0).raw(varint_bytes(v)); }
  Pb& f32(uint32_t field, float v) {
    uint32_t bits;
    std::memcpy(&bits, &v, 4);
    return tag(field, 5).le(bits, 4);
  }
  Pb& f64(uint32_t field, double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    return tag(field, 1).le(bits, 8);
  }
  Pb& bytes(uint32_t field, const std::string& payload) {
    return tag(field, 2).raw(varint_bytes(payload.size())).raw(payload);
  }
  Pb& msg(uint32_t field, const Pb& m) { return bytes(field, m.str()); }
  Pb& packed_varints(uint32_t field, const std::vector<int64_t>& values) {
    std::string payload;
    for (int64_t v : values) payload += varint_bytes(static_cast<uint64_t>(v));
    return bytes(field, payload);
  }
  Pb& packed_floats(uint32_t field, const std::vector<float>& values) {
    return bytes(field, std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  }
  Pb& raw(const std::string& b) {
    data_ += b;
    return *this;
  }

  const std::string& str() const { return data_; }
  std::vector<uint8_t> vec() const { return std::vector<uint8_t>(data_.begin(), data_.end()); }

 private:
  Pb& le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) data_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    return *this;
  }
  std::string data_;
};

// ---- ONNX messages (field numbers from onnx.proto) ------------------------

inline Pb float_tensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<float>& values) {
  Pb t;
  t.packed_varints(1, dims).varint(2, 1).bytes(8, name);
  t.bytes(9, std::string(reinterpret_cast<const char*>(values.data()), values.size() * 4));
  return t;
}

inline Pb int64_tensor(const std::string& name, const std::vector<int64_t>& dims, const std::vector<int64_t>& values) {
  Pb t;
  t.packed_varints(1, dims).varint(2, 7).bytes(8, name).packed_varints(7, values);
  return t;
}

inline Pb attr_int(const std::string& name, int64_t v) { return Pb().bytes(1, name).varint(3, v).varint(20, 2); }
inline Pb attr_float(const std::string& name, float v) { return Pb().bytes(1, name).f32(2, v).varint(20, 1); }
inline Pb attr_string(const std::string& name, const std::string& v) {
  return Pb().bytes(1, name).bytes(4, v).varint(20, 3);
}
inline Pb attr_ints(const std::string& name, const std::vector<int64_t>& v) {
  return Pb().bytes(1, name).packed_varints(8, v).varint(20, 7);
}

inline Pb node(const std::string& op, const std::vector<std::string>& inputs, const std::vector<std::string>& outputs,
               const std::string& name, const std::vector<Pb>& attrs = {}) {
  Pb n;
  for (const std::string& i : inputs) n.bytes(1, i);
  for (const std::string& o : outputs) n.bytes(2, o);
  n.bytes(3, name).bytes(4, op);
  for (const Pb& a : attrs) n.msg(5, a);
  return n;
}

// A float tensor value; a negative dim is written as the symbol "N".
inline Pb value_info(const std::string& name, const std::vector<int64_t>& dims) {
  Pb shape;
  for (int64_t d : dims) shape.msg(1, d < 0 ? Pb().bytes(2, "N") : Pb().varint(1, d));
  Pb tensor_type;
  tensor_type.varint(1, 1).msg(2, shape);
  return Pb().bytes(1, name).msg(2, Pb().msg(1, tensor_type));
}

// A graph assembled node by node, wrapped into a ModelProto by model().
struct GraphBuilder {
  Pb graph;
  GraphBuilder& add_node(const Pb& n) {
    graph.msg(1, n);
    return *this;
  }
  GraphBuilder& add_initializer(const Pb& t) {
    graph.msg(5, t);
    return *this;
  }
  GraphBuilder& add_input(const std::string& name, const std::vector<int64_t>& dims) {
    graph.msg(11, value_info(name, dims));
    return *this;
  }
  GraphBuilder& add_output(const std::string& name, const std::vector<int64_t>& dims) {
    graph.msg(12, value_info(name, dims));
    return *this;
  }
  std::vector<uint8_t> model() const {
    Pb m;
    m.varint(1, 7).bytes(2, "mfn-test").msg(7, Pb(graph).bytes(2, "test"));
    m.msg(8, Pb().bytes(1, "").varint(2, 13));
    return m.vec();
  }
};

}  // namespace mfn_test
