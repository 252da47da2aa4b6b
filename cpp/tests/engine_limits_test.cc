// The engine end to end on small hostile models written to disk: an output
// that overflows (or vanishes) is MFN_NONFINITE, never an embedding; and the
// memory createEmbedder reserves for input staging follows maxBatch and the
// input size instead of a fixed 64 passes.
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "mfn/engine.h"
#include "tests/check.h"
#include "tests/onnx_builder.h"
#include "tests/test_data.h"

using mfn::Code;
using mfn::Status;
using mfn_test::float_tensor;
using mfn_test::GraphBuilder;
using mfn_test::node;

namespace {

std::string scratch_dir() {
  static const std::string dir = mfn_test::scratch_dir("mfn_engine_limits_test");
  return dir;
}

// Writes model.onnx and manifest.json (no sha256) and creates a CPU engine.
Status create(const GraphBuilder& g, int side, int embedding, int max_batch, std::unique_ptr<mfn::Engine>* out) {
  const std::string dir = scratch_dir();
  const std::vector<uint8_t> bytes = g.model();
  std::ofstream(dir + "model.onnx", std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::ofstream(dir + "manifest.json", std::ios::binary)
      << R"({"file":"model.onnx","input":"input","output":"output","height":)" << side << R"(,"width":)" << side
      << R"(,"channelOrder":"RGB","mean":0,"std":1,"embeddingSize":)" << embedding << "}";
  mfn::EngineOptions options;
  options.model_path = dir + "model.onnx";
  options.backend = mfn::BackendChoice::cpu;
  options.threads = 1;
  options.max_batch = max_batch;
  return mfn::Engine::create(options, out);
}

// conv(w1) -> conv(w2) -> flatten on a 3x2x2 input.
GraphBuilder two_convs(float w1, float w2) {
  GraphBuilder g;
  g.add_input("input", {-1, 3, 2, 2})
      .add_initializer(float_tensor("w1", {4, 3, 2, 2}, std::vector<float>(48, w1)))
      .add_initializer(float_tensor("w2", {4, 4, 1, 1}, std::vector<float>(16, w2)))
      .add_node(node("Conv", {"input", "w1"}, {"a"}, "conv1"))
      .add_node(node("Conv", {"a", "w2"}, {"b"}, "conv2"))
      .add_node(node("Flatten", {"b"}, {"output"}, "flatten"))
      .add_output("output", {-1, 4});
  return g;
}

void test_nonfinite_outputs() {
  std::vector<uint8_t> pixels(2 * 2 * 3, 200);
  mfn::ImageInput image;
  image.data = pixels.data();
  image.size = pixels.size();
  image.width = image.height = 2;
  std::vector<float> out(2 * 4, 0.0f);
  struct Case {
    float w1, w2;
    const char* what;
  };
  // Finite weights whose products overflow float on this input (2400 * 1e30
  // * 4e30 > FLT_MAX), and zero weights that give a vector with no direction.
  for (const Case& c : {Case{1e30f, 1e30f, "non-finite"}, Case{0.0f, 1.0f, "zero vector"}}) {
    std::unique_ptr<mfn::Engine> engine;
    Status s = create(two_convs(c.w1, c.w2), 2, 4, 8, &engine);
    REQUIRE(s.is_ok());
    for (bool flip : {false, true}) {
      s = engine->embed(&image, 1, flip, out.data());
      CHECK_MSG(s.code() == Code::nonfinite && std::string(s.message()).find(c.what) != std::string::npos,
                "%s flip %d -> %s", c.what, flip, s.message().c_str());
    }
  }
  // The same graph with ordinary weights embeds to a unit vector.
  std::unique_ptr<mfn::Engine> engine;
  REQUIRE(create(two_convs(0.01f, 0.5f), 2, 4, 8, &engine).is_ok());
  mfn::ImageInput two[2] = {image, image};
  REQUIRE(engine->embed(two, 2, true, out.data()).is_ok());
  double norm = 0;
  for (int d = 0; d < 4; ++d) norm += out[d] * out[d];
  CHECK(std::abs(norm - 1) < 1e-5);
}

size_t vm_size_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) * 1024;
  }
  return 0;
}

// A 1024x1024 input with maxBatch 1 needs two passes of staging (12 MB
// each), not 64 (805 MB). Run in a child under an address-space limit of
// 300 MB above what it already maps.
void test_staging_follows_max_batch() {
  GraphBuilder g;
  g.add_input("input", {-1, 3, -1, -1})  // H x W from the manifest
      .add_node(node("GlobalAveragePool", {"input"}, {"gap"}, "gap"))
      .add_node(node("Flatten", {"gap"}, {"output"}, "flatten"))
      .add_output("output", {-1, 3});
  std::fflush(stdout);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    struct rlimit limit {};
    limit.rlim_cur = limit.rlim_max = vm_size_bytes() + (size_t(300) << 20);
    ::setrlimit(RLIMIT_AS, &limit);
    std::unique_ptr<mfn::Engine> engine;
    const Status s = create(g, 1024, 3, 1, &engine);
    if (!s.is_ok()) std::printf("child: %s\n", s.message().c_str());
    std::fflush(stdout);
    ::_exit(s.is_ok() ? 0 : 1);
  }
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "engine creation under a 300 MB limit failed");
  // A 2000x2000 input (3 GiB of staging once) is refused at load.
  std::unique_ptr<mfn::Engine> engine;
  const Status s = create(g, 2000, 3, 1, &engine);
  CHECK_MSG(s.code() == Code::model_invalid && s.message().find("'height'") != std::string::npos && !engine, "%s",
            s.message().c_str());
}

}  // namespace

int main() {
  test_nonfinite_outputs();
  test_staging_follows_max_batch();
  std::remove((scratch_dir() + "model.onnx").c_str());
  std::remove((scratch_dir() + "manifest.json").c_str());
  ::rmdir(scratch_dir().c_str());
  std::printf("engine_limits_test: %d failure(s)\n", mfn_test::failures());
  return mfn_test::test_exit_code();
}
