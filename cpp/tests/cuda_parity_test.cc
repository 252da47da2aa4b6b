// The CUDA backend against the CPU backend (the reference) on real LFW
// crops, through the public C++ API only: every embedding must have cosine
// >= 0.9995 with the CPU's and unit norm. Covered, with flip on and off: the
// shipped model on crops resized and aligned with landmarks, strided
// sub-images and row-padded RGBA input; batches that are padded up to their
// graph bucket (7 -> 8, 5 -> 6); a call of exactly max_batch and one beyond
// it, with a max_batch that is not a bucket (40 -> 48, 5 -> 6: the cap
// applies); a batch where each crop comes twice, resized and aligned (one
// pixel buffer, two transforms: staged once); a small model that only the
// generic conv kernel runs (6, 10 and 12 channels, grouped, dilated); and the
// face detector's raw outputs on letterboxed crops and pairs of crops
// (tests/detector_parity.h: below the public API, which runs detection on
// the CPU), compared value by value with a bound suited to FP16.
//
// The run size is an option, so that a slow device (a functional simulator
// runs about a minute per image per pass) can run a small one:
//   cuda_parity_test [--crops N] [--batches 1,7,64,256] [--max-batch N]
//                    [--edge-max-batch N] [--json PATH]
// or the same through MFN_PARITY_CROPS, MFN_PARITY_BATCHES,
// MFN_PARITY_MAX_BATCH, MFN_PARITY_EDGE_MAX_BATCH, MFN_PARITY_JSON (options
// win). Defaults: 256 crops, batches 1,7,64,256, max_batch 256, edge
// max_batch min(40, crops - 1). A cheap run: --crops 6 --batches 1,5.
// --json writes every image's cosine, max |difference| and both norms, and
// the detector runs' largest absolute and relative differences.
// Skips (exit 77) with the reason when the CUDA backend is unavailable,
// after checking that the CPU runs the generic model; on a machine where
// CUDA is available, missing crops fail.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "mfn/engine.h"
#include "tests/check.h"
#include "tests/detector_parity.h"
#include "tests/onnx_builder.h"
#include "tests/test_data.h"
#include "tools/json_text.h"

namespace {

using mfn_tools::json_number;
using mfn_tools::json_string;

constexpr double kMinCosine = 0.9995;
constexpr double kMaxNormError = 1e-3;

struct Options {
  size_t crops = 256;
  std::vector<size_t> batches{1, 7, 64, 256};
  int max_batch = 256;
  int edge_max_batch = 0;  // 0: min(40, crops - 1)
  std::string json;
};

bool parse_count(const std::string& text, size_t* out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 1 || v > (1u << 20)) return false;
  *out = static_cast<size_t>(v);
  return true;
}

bool parse_list(const std::string& text, std::vector<size_t>* out) {
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    size_t v = 0;
    if (!parse_count(text.substr(start, comma - start), &v)) return false;
    out->push_back(v);
    start = comma + 1;
  }
  return !out->empty();
}

// Sets one option from its name (without "--") and value; false when either is bad.
bool set_option(Options* o, const std::string& name, const std::string& value) {
  size_t v = 0;
  if (name == "crops") return parse_count(value, &o->crops);
  if (name == "batches") return parse_list(value, &o->batches);
  if (name == "max-batch" && parse_count(value, &v)) return o->max_batch = static_cast<int>(v), true;
  if (name == "edge-max-batch" && parse_count(value, &v)) return o->edge_max_batch = static_cast<int>(v), true;
  if (name == "json" && !value.empty()) return o->json = value, true;
  return false;
}

bool parse_options(int argc, char** argv, Options* o) {
  const struct { const char* env; const char* name; } vars[] = {
      {"MFN_PARITY_CROPS", "crops"}, {"MFN_PARITY_BATCHES", "batches"}, {"MFN_PARITY_MAX_BATCH", "max-batch"},
      {"MFN_PARITY_EDGE_MAX_BATCH", "edge-max-batch"}, {"MFN_PARITY_JSON", "json"}};
  for (const auto& var : vars) {
    const char* value = std::getenv(var.env);
    if (value && *value && !set_option(o, var.name, value)) {
      std::printf("bad %s=%s\n", var.env, value);
      return false;
    }
  }
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0 || i + 1 >= argc || !set_option(o, arg.substr(2), argv[i + 1])) {
      std::printf("bad option %s\nusage: cuda_parity_test [--crops N] [--batches 1,7,64] [--max-batch N] "
                  "[--edge-max-batch N] [--json PATH]\n", arg.c_str());
      return false;
    }
    ++i;
  }
  if (o->edge_max_batch == 0) o->edge_max_batch = static_cast<int>(std::max<size_t>(1, std::min<size_t>(40, o->crops - 1)));
  return true;
}

// ---- the generic-kernel model -------------------------------------------------

// A random 32x32 network that the CUDA backend can only run with its generic
// conv kernel: Conv 3->6 5x5/s2 + PRelu, Conv 6->12 3x3 group 3 dilation 2 +
// PRelu, Conv 12->10 3x3/s2 + PRelu, a dense Conv 10->10 over the whole 8x8,
// Flatten. Weights scaled by fan-in. Written with its manifest into `dir`; returns the
// model path.
std::string write_generic_model(const std::string& dir) {
  using mfn_test::attr_ints;
  using mfn_test::float_tensor;
  using mfn_test::node;
  std::mt19937 rng(2024);
  const auto uniform = [&](size_t n, float lo, float hi) {
    std::uniform_real_distribution<float> dist(lo, hi);
    std::vector<float> v(n);
    for (float& f : v) f = dist(rng);
    return v;
  };
  const auto weights = [&](int out_c, int in_per_group, int k) {
    const float a = 1.7f / std::sqrt(static_cast<float>(in_per_group * k * k));
    return uniform(static_cast<size_t>(out_c) * in_per_group * k * k, -a, a);
  };
  mfn_test::GraphBuilder g;
  g.add_input("input", {-1, 3, 32, 32})
      .add_initializer(float_tensor("w1", {6, 3, 5, 5}, weights(6, 3, 5)))
      .add_initializer(float_tensor("b1", {6}, uniform(6, -0.1f, 0.1f)))
      .add_initializer(float_tensor("s1", {6, 1, 1}, uniform(6, 0.05f, 0.3f)))
      .add_initializer(float_tensor("w2", {12, 2, 3, 3}, weights(12, 2, 3)))
      .add_initializer(float_tensor("b2", {12}, uniform(12, -0.1f, 0.1f)))
      .add_initializer(float_tensor("s2", {12, 1, 1}, uniform(12, 0.05f, 0.3f)))
      .add_initializer(float_tensor("w3", {10, 12, 3, 3}, weights(10, 12, 3)))
      .add_initializer(float_tensor("b3", {10}, uniform(10, -0.1f, 0.1f)))
      .add_initializer(float_tensor("s3", {10, 1, 1}, uniform(10, 0.05f, 0.3f)))
      .add_initializer(float_tensor("w4", {10, 10, 8, 8}, weights(10, 10, 8)))
      .add_initializer(float_tensor("b4", {10}, uniform(10, -0.1f, 0.1f)))
      .add_node(node("Conv", {"input", "w1", "b1"}, {"c1"}, "conv1",
                     {attr_ints("strides", {2, 2}), attr_ints("pads", {2, 2, 2, 2})}))
      .add_node(node("PRelu", {"c1", "s1"}, {"p1"}, "prelu1"))
      .add_node(node("Conv", {"p1", "w2", "b2"}, {"c2"}, "conv2",
                     {mfn_test::attr_int("group", 3), attr_ints("dilations", {2, 2}), attr_ints("pads", {2, 2, 2, 2})}))
      .add_node(node("PRelu", {"c2", "s2"}, {"p2"}, "prelu2"))
      .add_node(node("Conv", {"p2", "w3", "b3"}, {"c3"}, "conv3",
                     {attr_ints("strides", {2, 2}), attr_ints("pads", {1, 1, 1, 1})}))
      .add_node(node("PRelu", {"c3", "s3"}, {"p3"}, "prelu3"))
      .add_node(node("Conv", {"p3", "w4", "b4"}, {"c4"}, "dense"))
      .add_node(node("Flatten", {"c4"}, {"output"}, "flatten"))
      .add_output("output", {-1, 10});
  const std::vector<uint8_t> bytes = g.model();
  const std::string model = dir + "/generic.onnx";
  std::ofstream(model, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  std::ofstream(dir + "/generic.json")
      << R"({"file": "generic.onnx", "input": "input", "output": "output", "height": 32, "width": 32,)"
      << R"( "channelOrder": "BGR", "mean": 127.5, "std": 127.5, "embeddingSize": 10})";
  return model;
}

std::unique_ptr<mfn::Engine> make_engine(mfn::BackendChoice backend, const std::string& model, int max_batch,
                                         mfn::Status* status) {
  mfn::EngineOptions options;
  options.model_path = model;
  if (model != mfn_test::model_path()) options.manifest_path = model.substr(0, model.size() - 5) + ".json";
  options.backend = backend;
  options.max_batch = max_batch;
  options.plugin_dir = mfn_test::plugin_dir();
  std::unique_ptr<mfn::Engine> engine;
  *status = mfn::Engine::create(options, &engine);
  return engine;
}

// Through the engine: with the embeddings on CUDA the detector runs there
// too, and finds the faces a CPU engine finds, boxes and landmarks within
// two pixels of a 128x128 crop.
void check_engine_detection(const std::vector<mfn::ImageInput>& photos) {
  mfn::EngineOptions options;
  options.model_path = mfn_test::model_path();
  options.detector_path = mfn_test::detector_path();
  options.backend = mfn::BackendChoice::cuda;
  options.plugin_dir = mfn_test::plugin_dir();
  std::unique_ptr<mfn::Engine> gpu;
  mfn::Status status = mfn::Engine::create(options, &gpu);
  REQUIRE_MSG(status.is_ok(), "%s", status.message().c_str());
  CHECK_MSG(gpu->detector_backend_name() == "cuda", "detector on %s: %s", gpu->detector_backend_name().c_str(),
            gpu->detector_fallback_reason().c_str());
  std::unique_ptr<mfn::Engine> cpu = mfn_test::face_engine();
  size_t agree = 0;
  float worst = 0;
  for (const mfn::ImageInput& photo : photos) {
    std::vector<mfn::Face> a, b;
    REQUIRE(cpu->detect(photo, mfn::DetectOptions{}, &a).is_ok());
    REQUIRE(gpu->detect(photo, mfn::DetectOptions{}, &b).is_ok());
    if (a.size() != b.size()) continue;
    ++agree;
    for (size_t f = 0; f < a.size(); ++f) {
      const float d[] = {a[f].x - b[f].x, a[f].y - b[f].y, a[f].width - b[f].width, a[f].height - b[f].height};
      for (float v : d) worst = std::max(worst, std::fabs(v));
      for (int k = 0; k < 10; ++k) worst = std::max(worst, std::fabs(a[f].landmarks[k] - b[f].landmarks[k]));
    }
  }
  std::printf("engine detection: %zu of %zu photos with the same faces on CUDA as on the CPU, largest difference %.3f px\n",
              agree, photos.size(), worst);
  CHECK(agree * 100 >= photos.size() * 95);
  CHECK(worst < 2.0f);
}

std::vector<float> embed_all(mfn::Engine& engine, const std::vector<mfn::ImageInput>& images, size_t batch, bool flip) {
  const size_t dims = static_cast<size_t>(engine.dimensions());
  std::vector<float> out(images.size() * dims, NAN);
  for (size_t first = 0; first < images.size(); first += batch) {
    const size_t count = std::min(batch, images.size() - first);
    const mfn::Status s = engine.embed(images.data() + first, count, flip, out.data() + first * dims);
    CHECK_MSG(s.is_ok(), "%s embed failed: %s", engine.backend_name().c_str(), s.message().c_str());
  }
  return out;
}

// ---- comparison and report ----------------------------------------------------

struct ImageStats {
  double cosine, max_abs_diff, cpu_norm, cuda_norm;
};

struct Run {
  std::string label;
  std::vector<ImageStats> images;
  double worst = 1.0;
};

// Compares row by row, checks the bounds, prints the worst rows.
Run compare(const std::vector<float>& ref, const std::vector<float>& got, size_t dims, const std::string& label) {
  Run run{label, {}, 1.0};
  int reported = 0;
  for (size_t i = 0; i * dims < ref.size(); ++i) {
    double dot = 0, na = 0, nb = 0, diff = 0;
    for (size_t j = 0; j < dims; ++j) {
      const double a = ref[i * dims + j], b = got[i * dims + j];
      dot += a * b, na += a * a, nb += b * b;
      diff = std::max(diff, std::fabs(a - b));
      if (std::isnan(b)) diff = NAN;
    }
    const ImageStats s{dot / std::sqrt(na * nb), diff, std::sqrt(na), std::sqrt(nb)};
    if (!(s.cosine >= kMinCosine) && reported++ < 5) std::printf("  %s: image %zu cosine %.6f\n", label.c_str(), i, s.cosine);
    CHECK_MSG(std::fabs(s.cuda_norm - 1.0) < kMaxNormError, "%s: image %zu norm %.6f", label.c_str(), i, s.cuda_norm);
    if (!(s.cosine >= run.worst)) run.worst = s.cosine;  // NaN counts as worst
    run.images.push_back(s);
  }
  CHECK_MSG(run.worst >= kMinCosine, "%s: worst cosine %.6f < %.4f", label.c_str(), run.worst, kMinCosine);
  std::printf("%-44s worst cosine %.6f\n", label.c_str(), run.worst);
  return run;
}

void write_json(const Options& o, const std::vector<Run>& runs, const std::vector<mfn_test::DetectorRun>& detector,
                const std::string& skipped) {
  if (o.json.empty()) return;
  std::ofstream out(o.json);
  out << "{\n  \"crops\": " << o.crops << ",\n  \"batches\": [";
  for (size_t i = 0; i < o.batches.size(); ++i) out << (i ? ", " : "") << o.batches[i];
  out << "],\n  \"max_batch\": " << o.max_batch << ",\n  \"edge_max_batch\": " << o.edge_max_batch
      << ",\n  \"min_cosine\": " << kMinCosine;
  if (!skipped.empty()) out << ",\n  \"skipped\": " << json_string(skipped);
  double worst = 1.0;
  for (const Run& r : runs) worst = r.worst >= worst ? worst : r.worst;
  out << ",\n  \"worst_cosine\": " << (runs.empty() ? "null" : json_number(worst, 9)) << ",\n  \"runs\": [";
  for (size_t r = 0; r < runs.size(); ++r) {
    out << (r ? "," : "") << "\n    {\"label\": " << json_string(runs[r].label) << ", \"worst_cosine\": " << json_number(runs[r].worst, 9)
        << ", \"images\": [";
    for (size_t i = 0; i < runs[r].images.size(); ++i) {
      const ImageStats& s = runs[r].images[i];
      out << (i ? ", " : "") << "{\"cosine\": " << json_number(s.cosine, 9) << ", \"max_abs_diff\": "
          << json_number(s.max_abs_diff, 9) << ", \"cpu_norm\": " << json_number(s.cpu_norm, 9)
          << ", \"cuda_norm\": " << json_number(s.cuda_norm, 9) << "}";
    }
    out << "]}";
  }
  out << "\n  ],\n  \"detector_tolerance\": " << json_number(mfn_test::kDetectorTolerance, 9) << ",\n  \"detector\": [";
  for (size_t r = 0; r < detector.size(); ++r) {
    out << (r ? "," : "") << "\n    {\"label\": " << json_string(detector[r].label)
        << ", \"max_abs_diff\": " << json_number(detector[r].max_abs_diff, 9)
        << ", \"max_rel_diff\": " << json_number(detector[r].max_rel_diff, 9) << "}";
  }
  out << "\n  ]\n}\n";
  CHECK_MSG(out.good(), "cannot write %s", o.json.c_str());
}

// ---- inputs -------------------------------------------------------------------

struct Inputs {
  std::vector<mfn::ImageInput> resized, aligned, strided, rgba;
  std::vector<std::vector<uint8_t>> rgba_pixels;
};

// The crops resized, aligned with their landmarks, the centre (w-24) x (h-24)
// of each read in place through the row stride, and RGBA copies whose rows
// are padded with bytes that must never be read as pixels.
Inputs make_inputs(const mfn_test::Crops& crops, size_t n) {
  Inputs in;
  const int w = crops.width, h = crops.height, c = crops.channels;
  const size_t rgba_stride = static_cast<size_t>(w) * 4 + 12;
  in.rgba_pixels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    mfn::ImageInput im;
    im.data = crops.pixels[i].data();
    im.size = crops.pixels[i].size();
    im.width = w, im.height = h, im.channels = c;
    im.order = MFN_ORDER_BGR;
    in.resized.push_back(im);
    mfn::ImageInput al = im;
    al.landmarks = crops.landmarks[i].data();
    in.aligned.push_back(al);
    mfn::ImageInput sub = im;
    sub.data = im.data + (12 * static_cast<size_t>(w) + 12) * c;
    sub.size = im.size - (12 * static_cast<size_t>(w) + 12) * c;
    sub.width = w - 24, sub.height = h - 24;
    sub.row_stride = static_cast<size_t>(w) * c;
    in.strided.push_back(sub);
    std::vector<uint8_t>& px = in.rgba_pixels[i];
    px.assign(rgba_stride * h, 0xab);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        const uint8_t* s = &crops.pixels[i][(static_cast<size_t>(y) * w + x) * c];
        uint8_t* d = &px[y * rgba_stride + static_cast<size_t>(x) * 4];
        d[0] = s[2], d[1] = s[1], d[2] = s[0], d[3] = 255;
      }
    }
    mfn::ImageInput ra = al;
    ra.data = px.data();
    ra.size = px.size();
    ra.channels = 4;
    ra.order = MFN_ORDER_RGB;
    ra.row_stride = rgba_stride;
    in.rgba.push_back(ra);
  }
  return in;
}

// A temporary folder for the generic model, removed on exit.
struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/mfn-parity-XXXXXX";
    if (mkdtemp(name)) path = name;
  }
  ~TempDir() {
    if (path.empty()) return;
    std::remove((path + "/generic.onnx").c_str());
    std::remove((path + "/generic.json").c_str());
    rmdir(path.c_str());
  }
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse_options(argc, argv, &opt)) return 2;
  TempDir tmp;
  REQUIRE(!tmp.path.empty());
  const std::string generic_model = write_generic_model(tmp.path);

  mfn::Status status;
  std::unique_ptr<mfn::Engine> gpu = make_engine(mfn::BackendChoice::cuda, mfn_test::model_path(), opt.max_batch, &status);
  if (!status.is_ok()) {
    if (status.code() == mfn::Code::backend_unavailable) {
      const std::string why = status.message();
      std::printf("CUDA backend unavailable: %s\n", why.c_str());
      // The generic model is still checked here: the CPU must run it.
      std::unique_ptr<mfn::Engine> cpu = make_engine(mfn::BackendChoice::cpu, generic_model, 8, &status);
      REQUIRE(status.is_ok() && cpu->dimensions() == 10);
      // ... and tell images apart well below the parity bound, or a CUDA
      // kernel bug could hide in it.
      std::vector<uint8_t> pixels[2] = {std::vector<uint8_t>(40 * 40 * 3), std::vector<uint8_t>(40 * 40 * 3)};
      for (size_t i = 0; i < pixels[0].size(); ++i) {
        pixels[0][i] = static_cast<uint8_t>(i * 7 % 251);
        pixels[1][i] = static_cast<uint8_t>((i / 3 % 40) * 6);
      }
      mfn::ImageInput ims[2];
      for (int k = 0; k < 2; ++k) {
        ims[k].data = pixels[k].data(), ims[k].size = pixels[k].size(), ims[k].width = 40, ims[k].height = 40;
      }
      std::vector<float> e(20, NAN);
      REQUIRE(cpu->embed(ims, 2, true, e.data()).is_ok());
      double dot = 0;
      for (int j = 0; j < 10; ++j) dot += double(e[j]) * e[10 + j];
      std::printf("generic model on the CPU: cosine %.4f between two different images\n", dot);
      CHECK(std::isfinite(dot) && dot < 0.99);
      if (mfn_test::failures() > 0) return 1;
      write_json(opt, {}, {}, "no usable CUDA device: " + why);
      mfn_test::skip("no usable CUDA device");
    }
    std::printf("creating the CUDA engine failed: %s: %s\n", mfn::code_name(status.code()), status.message().c_str());
    return 1;
  }
  REQUIRE(gpu->backend_name() == "cuda");

  mfn_test::Crops crops;
  std::string reason;
  if (!mfn_test::load_crops(&crops, &reason)) {
    std::printf("a CUDA device is present but the test crops are not: %s\n", reason.c_str());
    return 1;
  }
  if (crops.pixels.size() < opt.crops) {
    std::printf("%zu crops asked for, the crops file has %zu\n", opt.crops, crops.pixels.size());
    return 1;
  }
  std::unique_ptr<mfn::Engine> cpu = make_engine(mfn::BackendChoice::cpu, mfn_test::model_path(), opt.max_batch, &status);
  REQUIRE(status.is_ok());
  const size_t dims = static_cast<size_t>(cpu->dimensions());
  REQUIRE(gpu->dimensions() == cpu->dimensions());
  const Inputs in = make_inputs(crops, opt.crops);
  const size_t all = opt.crops;
  const size_t largest = std::min(all, *std::max_element(opt.batches.begin(), opt.batches.end()));
  const auto flip_name = [](bool flip) { return std::string(flip ? "on" : "off"); };
  std::vector<Run> runs;

  for (const auto& config : {std::make_pair("resized", &in.resized), std::make_pair("aligned", &in.aligned)}) {
    for (bool flip : {false, true}) {
      const std::vector<float> ref = embed_all(*cpu, *config.second, all, flip);
      for (size_t batch : opt.batches) {
        const std::string label = std::string(config.first) + " flip=" + flip_name(flip) + " batch=" + std::to_string(batch);
        runs.push_back(compare(ref, embed_all(*gpu, *config.second, batch, flip), dims, label));
      }
    }
  }
  for (const auto& config : {std::make_pair("strided", &in.strided), std::make_pair("rgba-padded", &in.rgba)}) {
    const std::string label = std::string(config.first) + " flip=on batch=" + std::to_string(largest);
    runs.push_back(compare(embed_all(*cpu, *config.second, all, true), embed_all(*gpu, *config.second, largest, true),
                           dims, label));
  }
  const mfn_stage_times times = gpu->last_timings();
  CHECK(times.compute_ms > 0.0);

  // max_batch edge: a call of exactly max_batch, and one of every crop
  // (beyond it when there are more crops), with a max_batch that caps the
  // graph buckets when it is not one of them.
  std::unique_ptr<mfn::Engine> edge =
      make_engine(mfn::BackendChoice::cuda, mfn_test::model_path(), opt.edge_max_batch, &status);
  REQUIRE(status.is_ok());
  {
    const std::vector<float> ref = embed_all(*cpu, in.aligned, all, true);
    for (size_t batch : {static_cast<size_t>(opt.edge_max_batch), all}) {
      const std::string label = "aligned flip=on max_batch=" + std::to_string(opt.edge_max_batch) +
                                " batch=" + std::to_string(batch);
      runs.push_back(compare(ref, embed_all(*edge, in.aligned, batch, true), dims, label));
    }
  }

  // One pixel buffer, two transforms, in one batch: each crop resized and
  // aligned, side by side (the plugin stages the shared pixels once).
  {
    std::vector<mfn::ImageInput> twice;
    for (size_t i = 0; i < all; ++i) twice.push_back(in.resized[i]), twice.push_back(in.aligned[i]);
    const std::string label = "resized+aligned shared flip=on batch=" + std::to_string(std::min(2 * largest, twice.size()));
    runs.push_back(compare(embed_all(*cpu, twice, twice.size(), true), embed_all(*gpu, twice, 2 * largest, true), dims,
                           label));
  }

  // The generic conv kernel: every layer of this model runs on it.
  std::unique_ptr<mfn::Engine> gpu_generic = make_engine(mfn::BackendChoice::cuda, generic_model, opt.max_batch, &status);
  if (!status.is_ok()) {
    std::printf("the generic model on CUDA: %s: %s\n", mfn::code_name(status.code()), status.message().c_str());
    return 1;
  }
  std::unique_ptr<mfn::Engine> cpu_generic = make_engine(mfn::BackendChoice::cpu, generic_model, opt.max_batch, &status);
  REQUIRE(status.is_ok());
  for (bool flip : {false, true}) {
    const std::vector<float> ref = embed_all(*cpu_generic, in.rgba, all, flip);
    const std::string label = "generic-model rgba-padded flip=" + flip_name(flip) + " batch=" + std::to_string(largest);
    runs.push_back(compare(ref, embed_all(*gpu_generic, in.rgba, largest, flip), 10, label));
  }

  const std::vector<mfn_test::DetectorRun> detector =
      mfn_test::detector_parity(crops, all, opt.batches, opt.max_batch);
  check_engine_detection(in.resized);

  double overall = 1.0;
  for (const Run& r : runs) overall = r.worst >= overall ? overall : r.worst;
  std::printf("worst cosine overall: %.6f (bound %.4f) over %zu runs of %zu crops\n", overall, kMinCosine, runs.size(), all);
  double detector_worst = 0;
  for (const mfn_test::DetectorRun& r : detector) detector_worst = std::max(detector_worst, r.max_rel_diff);
  std::printf("detector: worst relative difference %.6f (bound %.3f) over %zu runs\n", detector_worst,
              mfn_test::kDetectorTolerance, detector.size());
  write_json(opt, runs, detector, "");
  return mfn_test::test_exit_code();
}
