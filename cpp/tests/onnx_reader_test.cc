// The ONNX reader on the shipped model and on hostile bytes: every malformed
// input must come back as MFN_MODEL_INVALID (or UNSUPPORTED), never a crash.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>

#include "core/model.h"
#include "core/onnx_reader.h"
#include "tests/check.h"
#include "tests/onnx_builder.h"
#include "tests/test_data.h"

using mfn::Code;
using mfn::OnnxModel;
using mfn::Status;
using mfn_test::GraphBuilder;
using mfn_test::Pb;

namespace {

Status read(const std::vector<uint8_t>& bytes, OnnxModel* m) { return mfn::read_onnx(bytes.data(), bytes.size(), m); }

Status read(const std::vector<uint8_t>& bytes) {
  OnnxModel m;
  return read(bytes, &m);
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A model message with an arbitrary graph payload and a valid opset.
std::vector<uint8_t> model_with_graph(const Pb& graph) {
  Pb m;
  m.varint(1, 7).msg(7, graph).msg(8, Pb().bytes(1, "").varint(2, 13));
  return m.vec();
}

std::vector<uint8_t> model_with_initializer(const Pb& tensor) { return model_with_graph(Pb().msg(5, tensor)); }

void test_real_model(const std::vector<uint8_t>& file) {
  OnnxModel m;
  Status s = read(file, &m);
  REQUIRE(s.is_ok());
  CHECK(m.ir_version == 7);
  CHECK(m.producer_name == "pytorch");
  CHECK(!m.opsets.empty() && m.opsets[0].first.empty() && m.opsets[0].second == 9);

  std::map<std::string, int> ops;
  for (const mfn::OnnxNode& n : m.graph.nodes) ++ops[n.op_type];
  CHECK(ops.size() == 4);
  CHECK(ops["Conv"] == 50);
  CHECK(ops["PRelu"] == 33);
  CHECK(ops["Add"] == 12);
  CHECK(ops["Reshape"] == 1);
  CHECK(m.graph.initializers.size() == 134);

  REQUIRE(m.graph.inputs.size() == 1);
  CHECK(m.graph.inputs[0].name == "input");
  CHECK(m.graph.inputs[0].elem_type == mfn::kOnnxFloat);
  CHECK((m.graph.inputs[0].dims == std::vector<int64_t>{-1, 3, 112, 112}));
  REQUIRE(m.graph.outputs.size() == 1);
  CHECK(m.graph.outputs[0].name == "output");
  CHECK((m.graph.outputs[0].dims == std::vector<int64_t>{-1, 512}));

  // Every initializer decoded in full; the first conv is 64x3x3x3.
  int64_t params = 0;
  for (const mfn::OnnxTensor& t : m.graph.initializers) {
    if (t.data_type == mfn::kOnnxFloat) {
      CHECK_MSG(static_cast<int64_t>(t.floats.size()) == t.element_count(), "%s", t.name.c_str());
      params += t.element_count();
      for (float v : t.floats) CHECK(std::isfinite(v));
    } else {
      CHECK(t.data_type == mfn::kOnnxInt64);
      CHECK((t.ints == std::vector<int64_t>{-1, 512}));  // the Reshape target
    }
  }
  CHECK(params > 1000000 && params < 1300000);  // 1.19 M parameters
  const mfn::OnnxNode& first = m.graph.nodes[0];
  CHECK(first.op_type == "Conv");
  const mfn::OnnxTensor* w = nullptr;
  for (const mfn::OnnxTensor& t : m.graph.initializers) {
    if (t.name == first.inputs[1]) w = &t;
  }
  REQUIRE(w != nullptr);
  CHECK((w->dims == std::vector<int64_t>{64, 3, 3, 3}));
  const mfn::OnnxAttribute* strides = first.attribute("strides");
  REQUIRE(strides != nullptr);
  CHECK((strides->ints == std::vector<int64_t>{2, 2}));
  CHECK(first.attribute("no_such_attribute") == nullptr);
}

void test_truncated(const std::vector<uint8_t>& file) {
  std::vector<size_t> cuts;
  for (size_t i = 0; i < 256 && i < file.size(); ++i) cuts.push_back(i);
  for (size_t i = 0; i < 50; ++i) cuts.push_back(256 + (file.size() - 257) * i / 49);
  for (size_t cut : cuts) {
    OnnxModel m;
    Status s = mfn::read_onnx(file.data(), cut, &m);
    CHECK_MSG(!s.is_ok() && s.code() == Code::model_invalid, "cut at %zu: %s", cut, s.message().c_str());
    if (!s.is_ok()) CHECK_MSG(contains(s.message(), " at byte "), "%s", s.message().c_str());
  }
}

void test_random_bytes() {
  std::mt19937 rng(20240601);
  for (int seed = 0; seed < 400; ++seed) {
    std::vector<uint8_t> bytes(1 + rng() % 2048);
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng());
    Status s = read(bytes);
    CHECK_MSG(!s.is_ok() && s.code() == Code::model_invalid, "seed %d", seed);
  }
}

// Corrupted copies of the real model: reading and lowering may accept or
// reject each one but must return (the sanitizer build catches the rest).
void test_mutations(const std::vector<uint8_t>& file) {
  std::mt19937 rng(7);
  mfn::Manifest manifest;
  manifest.input_name = "input";
  manifest.output_name = "output";
  manifest.height = manifest.width = 112;
  manifest.channel_order = "BGR";
  manifest.embedding_size = 512;
  int rejected = 0;
  for (int round = 0; round < 200; ++round) {
    std::vector<uint8_t> bytes = file;
    // Corrupt within the first 12 KiB, where the graph structure lives
    // (the node list precedes the weight payloads).
    for (int k = 0; k < 4; ++k) bytes[rng() % std::min<size_t>(bytes.size(), 12288)] = static_cast<uint8_t>(rng());
    OnnxModel m;
    Status s = read(bytes, &m);
    if (s.is_ok()) {
      mfn::Model model;
      s = mfn::lower_model(m, manifest, &model);
    }
    if (!s.is_ok()) ++rejected;
  }
  std::printf("mutations: %d of 200 rejected\n", rejected);
}

void test_empty_and_missing() {
  Status s = read({});
  CHECK(s.code() == Code::model_invalid);
  OnnxModel m;
  s = mfn::read_onnx(nullptr, 0, &m);
  CHECK(s.code() == Code::model_invalid);
  s = mfn::read_onnx_file("/nonexistent/dir/model.onnx", &m);
  CHECK(s.code() == Code::model_invalid);
  CHECK(contains(s.message(), "/nonexistent/dir/model.onnx"));
  // A graph but no opset_import: what a file cut right after its graph is.
  s = read(Pb().varint(1, 7).msg(7, Pb().bytes(2, "g")).vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "opset"));
  s = read(Pb().varint(1, 7).msg(8, Pb().varint(2, 13)).vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "no graph"));
}

void test_wire_errors() {
  // ModelProto.graph as a varint.
  Status s = read(Pb().varint(7, 5).vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "wrong wire type for ModelProto.graph"));
  // ir_version as bytes.
  s = read(Pb().bytes(1, "x").vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "ModelProto.ir_version"));
  // NodeProto.op_type as a 32-bit value, deep inside the graph.
  s = read(model_with_graph(Pb().msg(1, Pb().bytes(1, "x").f32(4, 1.0f))));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "NodeProto.op_type"));
  // TensorProto.dims as a 64-bit value.
  s = read(model_with_initializer(Pb().f64(1, 2.0)));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "TensorProto.dims"));
  // AttributeProto.f as a varint.
  s = read(model_with_graph(Pb().msg(1, Pb().msg(5, Pb().bytes(1, "alpha").varint(2, 3)))));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "AttributeProto.f"));
  // Dimension.dim_value as bytes, in a graph input's shape.
  Pb bad_shape;
  bad_shape.msg(1, Pb().bytes(1, "3"));
  Pb vi = Pb().bytes(1, "in").msg(2, Pb().msg(1, Pb().msg(2, bad_shape)));
  s = read(model_with_graph(Pb().msg(11, vi)));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "Dimension.dim_value"));
  // Group wire types (3/4) and the undefined ones (6/7).
  for (int wire : {3, 4, 6, 7}) {
    s = read(Pb().tag(15, wire).vec());
    CHECK_MSG(s.code() == Code::model_invalid, "wire %d", wire);
  }
  // Field number 0.
  s = read(Pb().tag(0, 0).raw(std::string(1, '\0')).vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "field number"));
}

void test_lengths_and_varints() {
  // A declared length far beyond the buffer, at top level and nested.
  Pb huge;
  huge.tag(7, 2).raw(Pb::varint_bytes(uint64_t(1) << 40)).raw("abc");
  Status s = read(huge.vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "runs past") && contains(s.message(), "at byte 1"));
  Pb nested_huge;
  nested_huge.tag(8, 2).raw(Pb::varint_bytes(~uint64_t(0))).raw("abc");  // a string claiming 2^64-1 bytes
  s = read(model_with_graph(Pb().msg(1, nested_huge)));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "runs past"));
  // A length that fits the file but not its enclosing message.
  Pb inner;
  inner.tag(3, 2).raw(Pb::varint_bytes(10)).raw("abc");
  Pb outer;
  outer.tag(1, 2).raw(Pb::varint_bytes(inner.str().size())).raw(inner.str()).raw(std::string(20, '\0'));
  s = read(model_with_graph(outer));
  CHECK(s.code() == Code::model_invalid);

  // A varint of 11 bytes, and a 10-byte one that overflows 64 bits.
  s = read(Pb().tag(1, 0).raw(std::string(10, '\x80')).raw(std::string(1, '\x01')).vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "longer than 10 bytes"));
  s = read(Pb().tag(1, 0).raw(std::string(9, '\xff')).raw(std::string(1, '\x02')).vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "overflows"));
  // The largest legal varint reads.
  OnnxModel m;
  s = read(Pb().tag(1, 0).raw(std::string(9, '\xff')).raw(std::string(1, '\x01')).msg(7, Pb()).msg(8, Pb().varint(2, 9)).vec(), &m);
  CHECK(s.is_ok() && m.ir_version == -1);
  // A varint cut short, and a fixed32 cut short.
  s = read(Pb().tag(1, 0).raw("\x80\x80").vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "truncated varint"));
  s = read(model_with_graph(Pb().msg(1, Pb().msg(5, Pb().tag(2, 5).raw("\x01\x02")))));
  CHECK(s.code() == Code::model_invalid);
}

void test_tensors() {
  OnnxModel m;
  // raw_data of the wrong size.
  Pb t = mfn_test::float_tensor("w", {2, 3}, {1, 2, 3, 4, 5});
  Status s = read(model_with_initializer(t));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "'w'") && contains(s.message(), "raw_data"));
  // Typed data of the wrong count.
  s = read(model_with_initializer(Pb().packed_varints(1, {4}).varint(2, 1).bytes(8, "f").packed_floats(4, {1, 2, 3})));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "3 values for 4 elements"));
  // Elements but no data at all.
  s = read(model_with_initializer(Pb().packed_varints(1, {2}).varint(2, 1).bytes(8, "nodata")));
  CHECK(s.code() == Code::model_invalid);
  // Negative and overflowing dims: rejected before anything is allocated.
  s = read(model_with_initializer(Pb().packed_varints(1, {-4}).varint(2, 1).bytes(8, "neg")));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "invalid dims"));
  s = read(model_with_initializer(Pb().packed_varints(1, {int64_t(1) << 31, 2}).varint(2, 1).bytes(8, "big")));
  CHECK(s.code() == Code::model_invalid);
  s = read(model_with_initializer(
      Pb().packed_varints(1, {int64_t(1) << 40, int64_t(1) << 40, int64_t(1) << 40}).varint(2, 1).bytes(8, "ovf")));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "invalid dims"));
  // Packed floats whose byte count is not a multiple of 4.
  s = read(model_with_initializer(Pb().packed_varints(1, {1}).varint(2, 1).bytes(4, "abcde")));
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "whole number"));
  // External data.
  s = read(model_with_initializer(Pb().packed_varints(1, {1}).varint(2, 1).bytes(8, "ext").varint(14, 1)));
  CHECK(s.code() == Code::model_unsupported && contains(s.message(), "external"));
  s = read(model_with_initializer(
      Pb().packed_varints(1, {1}).varint(2, 1).bytes(8, "ext").msg(13, Pb().bytes(1, "location").bytes(2, "w.bin"))));
  CHECK(s.code() == Code::model_unsupported);

  // Unpacked dims and float_data; double_data narrowed; int32 sign kept.
  Pb unpacked;
  unpacked.varint(1, 2).varint(1, 2).varint(2, 1).bytes(8, "u");
  for (float v : {1.5f, -2.0f, 3.25f, 0.0f}) unpacked.f32(4, v);
  Pb doubles;
  doubles.packed_varints(1, {2}).varint(2, 11).bytes(8, "d").f64(10, 0.5).f64(10, -4.0);
  Pb int32s;
  int32s.packed_varints(1, {3}).varint(2, 6).bytes(8, "i").packed_varints(5, {-1, 7, -300});
  Pb raw64 = Pb().packed_varints(1, {2}).varint(2, 7).bytes(8, "r");
  const int64_t r[2] = {-5, int64_t(1) << 40};
  raw64.bytes(9, std::string(reinterpret_cast<const char*>(r), 16));
  Pb scalar = mfn_test::float_tensor("s", {}, {42.0f});
  Pb other_type = Pb().packed_varints(1, {3}).varint(2, 2).bytes(8, "u8").bytes(9, "abc");  // uint8: kept undecoded
  s = read(model_with_graph(Pb().msg(5, unpacked).msg(5, doubles).msg(5, int32s).msg(5, raw64).msg(5, scalar).msg(5, other_type)),
           &m);
  REQUIRE(s.is_ok());
  REQUIRE(m.graph.initializers.size() == 6);
  const std::vector<mfn::OnnxTensor>& init = m.graph.initializers;
  CHECK((init[0].dims == std::vector<int64_t>{2, 2}));
  CHECK((init[0].floats == std::vector<float>{1.5f, -2.0f, 3.25f, 0.0f}));
  CHECK((init[1].floats == std::vector<float>{0.5f, -4.0f}));
  CHECK((init[2].ints == std::vector<int64_t>{-1, 7, -300}));
  CHECK((init[3].ints == std::vector<int64_t>{-5, int64_t(1) << 40}));
  CHECK(init[4].dims.empty() && init[4].element_count() == 1 && init[4].floats == std::vector<float>{42.0f});
  CHECK(init[5].floats.empty() && init[5].ints.empty() && init[5].element_count() == 3);
}

void test_nodes_and_attributes() {
  // Packed and unpacked ints, floats, a string, a tensor; unknown fields of
  // every wire type skipped on the way.
  Pb unpacked_ints = Pb().bytes(1, "pads");
  for (int64_t v : {1, 2, 3, 4}) unpacked_ints.varint(8, v);
  Pb n = mfn_test::node("Conv", {"x", "w", ""}, {"y"}, "conv0",
                        {mfn_test::attr_ints("strides", {2, 2}), unpacked_ints, mfn_test::attr_float("eps", 0.25f),
                         mfn_test::attr_string("auto_pad", "SAME_UPPER"), mfn_test::attr_int("group", -3),
                         Pb().bytes(1, "floats").packed_floats(7, {0.5f, 1.5f}).f32(7, 2.5f),
                         Pb().bytes(1, "value").msg(5, mfn_test::float_tensor("c", {1}, {9.0f}))});
  n.bytes(7, "").bytes(6, "doc string").varint(99, 5).f32(98, 1.0f).f64(97, 2.0);
  OnnxModel m;
  Status s = read(model_with_graph(Pb().msg(1, n).bytes(10, "graph doc").msg(13, mfn_test::value_info("y", {1}))), &m);
  REQUIRE(s.is_ok());
  REQUIRE(m.graph.nodes.size() == 1);
  const mfn::OnnxNode& node = m.graph.nodes[0];
  CHECK(node.name == "conv0" && node.op_type == "Conv" && node.domain.empty());
  CHECK((node.inputs == std::vector<std::string>{"x", "w", ""}));
  CHECK((node.outputs == std::vector<std::string>{"y"}));
  REQUIRE(node.attributes.size() == 7);
  CHECK((node.attribute("strides")->ints == std::vector<int64_t>{2, 2}));
  CHECK(node.attribute("strides")->type == 7);
  CHECK((node.attribute("pads")->ints == std::vector<int64_t>{1, 2, 3, 4}));
  CHECK(node.attribute("eps")->f == 0.25f);
  CHECK(node.attribute("auto_pad")->s == "SAME_UPPER");
  CHECK(node.attribute("group")->i == -3);
  CHECK((node.attribute("floats")->floats == std::vector<float>{0.5f, 1.5f, 2.5f}));
  CHECK(node.attribute("value")->has_tensor && node.attribute("value")->t.floats == std::vector<float>{9.0f});
}

// Subgraphs nested thousands deep in attributes (If/Loop bodies) and in
// unknown fields are skipped without descending, so the stack stays flat.
void test_deep_nesting() {
  Pb g = Pb().bytes(2, "leaf");
  for (int depth = 0; depth < 3000; ++depth) {
    Pb attr = Pb().bytes(1, "then_branch").msg(6, g).varint(20, 5);
    g = Pb().msg(1, mfn_test::node("If", {"c"}, {"o"}, "if" + std::to_string(depth), {attr}));
  }
  OnnxModel m;
  Status s = read(model_with_graph(g), &m);
  CHECK(s.is_ok() && m.graph.nodes.size() == 1 && m.graph.nodes[0].attributes.size() == 1);
  // Nested unknown fields.
  Pb unknown = Pb().varint(1, 1);
  for (int depth = 0; depth < 3000; ++depth) unknown = Pb().msg(77, unknown);
  s = read(model_with_graph(Pb().msg(1, Pb().msg(99, unknown).bytes(4, "Relu"))), &m);
  CHECK(s.is_ok() && m.graph.nodes.size() == 1 && m.graph.nodes[0].op_type == "Relu");
  // Nested groups are rejected at the first one.
  std::string groups;
  for (int depth = 0; depth < 100000; ++depth) groups += Pb().tag(1, 3).str();
  s = read(Pb().raw(groups).vec());
  CHECK(s.code() == Code::model_invalid && contains(s.message(), "group"));
}

void test_unsupported_op() {
  GraphBuilder g;
  g.add_input("input", {-1, 3, 4, 4})
      .add_initializer(mfn_test::float_tensor("w", {2, 3, 1, 1}, std::vector<float>(6, 0.5f)))
      .add_node(mfn_test::node("Conv", {"input", "w"}, {"c"}, "conv0"))
      .add_node(mfn_test::node("Softmax", {"c"}, {"output"}, "softmax_7"))
      .add_output("output", {-1, 2, 4, 4});
  OnnxModel m;
  REQUIRE(read(g.model(), &m).is_ok());
  CHECK(m.graph.nodes.size() == 2 && m.graph.nodes[1].op_type == "Softmax");
  mfn::Manifest manifest;
  manifest.input_name = "input";
  manifest.output_name = "output";
  manifest.height = manifest.width = 4;
  manifest.channel_order = "RGB";
  manifest.embedding_size = 2;
  mfn::Model model;
  Status s = mfn::lower_model(m, manifest, &model);
  CHECK(s.code() == Code::model_unsupported);
  CHECK_MSG(s.message() == "unsupported op 'Softmax' in node 'softmax_7'", "%s", s.message().c_str());
}

}  // namespace

int main() {
  const std::vector<uint8_t> file = mfn_test::read_file(mfn_test::model_path());
  REQUIRE(!file.empty());
  test_real_model(file);
  test_truncated(file);
  test_random_bytes();
  test_mutations(file);
  test_empty_and_missing();
  test_wire_errors();
  test_lengths_and_varints();
  test_tensors();
  test_nodes_and_attributes();
  test_deep_nesting();
  test_unsupported_op();
  std::printf("onnx_reader_test: %d failure(s)\n", mfn_test::failures());
  return mfn_test::test_exit_code();
}
