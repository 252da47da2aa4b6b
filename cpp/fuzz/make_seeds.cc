// Writes the seed corpora of the fuzz harnesses into <out>/{onnx,manifest,image}:
// small graphs that use every supported op (built with tests/onnx_builder.h),
// manifests, and image descriptors in fuzz_image's layout. Run by
// scripts/fuzz.mjs before fuzzing; nothing here is committed data.
#include <sys/stat.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "tests/onnx_builder.h"

using mfn_test::attr_float;
using mfn_test::attr_int;
using mfn_test::attr_ints;
using mfn_test::attr_string;
using mfn_test::float_tensor;
using mfn_test::GraphBuilder;
using mfn_test::node;

namespace {

void write(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string as_string(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

std::vector<float> ramp(size_t n, float scale) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>(static_cast<int>(i % 7) - 3);
  return v;
}

void onnx_seeds(const std::string& dir) {
  // Input normalisation, conv + BN + PRelu, a residual, depthwise, GAP, Gemm.
  GraphBuilder a;
  a.add_input("input", {-1, 3, 8, 8})
      .add_initializer(float_tensor("mean", {1, 3, 1, 1}, {0.5f, 0.25f, 0.1f}))
      .add_initializer(float_tensor("scale", {1}, {2.0f}))
      .add_initializer(float_tensor("w1", {4, 3, 3, 3}, ramp(108, 0.1f)))
      .add_initializer(float_tensor("b1", {4}, {0.1f, 0.2f, 0.3f, 0.4f}))
      .add_initializer(float_tensor("g", {4}, {1, 2, 1, 0.5f}))
      .add_initializer(float_tensor("beta", {4}, {0, 0.1f, 0, -0.1f}))
      .add_initializer(float_tensor("mu", {4}, {0, 0, 0.5f, 0}))
      .add_initializer(float_tensor("var", {4}, {1, 2, 1, 0.5f}))
      .add_initializer(float_tensor("slope", {4, 1, 1}, {0.1f, 0.2f, 0.3f, 0.4f}))
      .add_initializer(float_tensor("dw", {4, 1, 3, 3}, ramp(36, 0.05f)))
      .add_initializer(float_tensor("fc", {6, 4}, ramp(24, 0.2f)))
      .add_initializer(float_tensor("fcb", {6}, ramp(6, 0.01f)))
      .add_node(node("Sub", {"input", "mean"}, {"s"}, "sub"))
      .add_node(node("Mul", {"s", "scale"}, {"m"}, "mul"))
      .add_node(node("Conv", {"m", "w1", "b1"}, {"c1"}, "conv1",
                     {attr_ints("kernel_shape", {3, 3}), attr_ints("pads", {1, 1, 1, 1}), attr_ints("strides", {2, 2})}))
      .add_node(node("BatchNormalization", {"c1", "g", "beta", "mu", "var"}, {"bn"}, "bn", {attr_float("epsilon", 1e-5f)}))
      .add_node(node("PRelu", {"bn", "slope"}, {"p1"}, "prelu"))
      .add_node(node("Conv", {"p1", "dw"}, {"d"}, "dwconv", {attr_int("group", 4), attr_string("auto_pad", "SAME_UPPER")}))
      .add_node(node("Add", {"d", "p1"}, {"r"}, "residual"))
      .add_node(node("Relu", {"r"}, {"q"}, "relu"))
      .add_node(node("GlobalAveragePool", {"q"}, {"gap"}, "gap"))
      .add_node(node("Flatten", {"gap"}, {"f"}, "flatten", {attr_int("axis", 1)}))
      .add_node(node("Gemm", {"f", "fc", "fcb"}, {"output"}, "fc", {attr_int("transB", 1), attr_float("alpha", 0.5f)}))
      .add_output("output", {-1, 6});
  write(dir + "/block.onnx", as_string(a.model()));

  // Reshape, MatMul, Div, Identity, Dropout, a Constant node, dilation.
  GraphBuilder b;
  b.add_input("input", {-1, 3, 6, 6})
      .add_initializer(float_tensor("w", {2, 3, 3, 3}, ramp(54, 0.1f)))
      .add_initializer(mfn_test::int64_tensor("shape", {2}, {-1, 8}))
      .add_initializer(float_tensor("mm", {8, 5}, ramp(40, 0.1f)))
      .add_node(node("Conv", {"input", "w"}, {"c"}, "conv", {attr_ints("dilations", {2, 2})}))
      .add_node(node("Constant", {}, {"k"}, "const").msg(5, mfn_test::Pb().bytes(1, "value").msg(5, float_tensor("", {1}, {4.0f})).varint(20, 4)))
      .add_node(node("Div", {"c", "k"}, {"dv"}, "div"))
      .add_node(node("Identity", {"dv"}, {"id"}, "identity"))
      .add_node(node("Dropout", {"id"}, {"dr"}, "dropout"))
      .add_node(node("Reshape", {"dr", "shape"}, {"flat"}, "reshape"))
      .add_node(node("MatMul", {"flat", "mm"}, {"output"}, "matmul"))
      .add_output("output", {-1, 5});
  write(dir + "/reshape.onnx", as_string(b.model()));

  // The smallest model: GAP of the input.
  GraphBuilder c;
  c.add_input("input", {-1, 3, 4, 4})
      .add_node(node("GlobalAveragePool", {"input"}, {"g"}, "gap"))
      .add_node(node("Flatten", {"g"}, {"output"}, "flatten"))
      .add_output("output", {-1, 3});
  write(dir + "/gap.onnx", as_string(c.model()));
}

void manifest_seeds(const std::string& dir) {
  write(dir + "/full.json",
        R"({"file":"mobilefacenet.onnx","sha256":"8403893c492890de20f415bb15da0fd4c14d09bfc003f884a39a357c4e932d49",)"
        R"("source":{"package":"p","file":"f","license":"MIT"},"input":"input","output":"output","layout":"NCHW",)"
        R"("height":112,"width":112,"channelOrder":"BGR","mean":127.5,"std":127.5,"embeddingSize":512})");
  write(dir + "/arrays.json",
        R"({"file":"m\u00e9.onnx","input":"in","output":"out","height":8,"width":4,"channelOrder":"RGB",)"
        R"("mean":[1,2.5,-3e1],"std":[0.5,1E0,2],"x":[true,false,null,{"y":[]}],"embeddingSize":16})");
}

std::string image_seed(uint16_t w, uint16_t h, uint8_t channels, uint8_t order, uint8_t flags, uint32_t stride,
                       const float* landmarks) {
  std::string out(20, '\0');
  std::memcpy(&out[0], &w, 2);
  std::memcpy(&out[2], &h, 2);
  out[4] = static_cast<char>(channels);
  out[5] = static_cast<char>(order);
  out[6] = static_cast<char>(flags);
  const uint64_t stride64 = stride;
  std::memcpy(&out[8], &stride64, 8);
  if (landmarks) out.append(reinterpret_cast<const char*>(landmarks), 40);
  const size_t row = stride ? stride : static_cast<size_t>(w) * channels;
  for (size_t i = 0; i < row * h; ++i) out.push_back(static_cast<char>(i * 31));
  return out;
}

void image_seeds(const std::string& dir) {
  const float face[10] = {10, 12, 22, 12, 16, 18, 11, 24, 21, 24};
  write(dir + "/rgb.bin", image_seed(8, 8, 3, 0, 0, 0, nullptr));
  write(dir + "/bgra_stride.bin", image_seed(7, 5, 4, 1, 2, 32, nullptr));
  write(dir + "/aligned.bin", image_seed(32, 32, 3, 0, 1, 0, face));
  write(dir + "/aligned_mirror.bin", image_seed(32, 30, 4, 1, 3, 0, face));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds <out-dir>\n");
    return 2;
  }
  const std::string out = argv[1];
  for (const char* sub : {"", "/onnx", "/manifest", "/image"}) ::mkdir((out + sub).c_str(), 0755);
  onnx_seeds(out + "/onnx");
  manifest_seeds(out + "/manifest");
  image_seeds(out + "/image");
  return 0;
}
