// mfn_check: the engine from the command line, over the public C++ API.
// Embeds a file of decoded face crops (the MFNCROP1 file that
// scripts/make-test-crops.mjs writes) and prints a summary, or benchmarks
// batch sizes and prints throughput, per-call latency percentiles and the
// backend's stage times as JSON.
//
//   mfn_check --model models/mobilefacenet.onnx --crops build/lfw-crops.bin --backend cuda
//   mfn_check ... --backend cuda --flip both --bench 1,2,4,8,16,32,64,128,256,512,1024 --json out.json
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "mfn/engine.h"
#include "tools/crops_file.h"
#include "tools/json_text.h"

namespace {

using mfn_tools::Crops;
using mfn_tools::json_number;
using mfn_tools::json_string;

struct Args {
  std::string model;
  std::string crops;
  std::string backend = "cpu";
  std::string flip = "on";       // on | off | both
  std::string plugin_dir;        // default: beside this executable (or its cuda/ folder)
  std::string json;
  std::vector<int> bench;
  int iterations = 20;
  int warmup = 3;
  int max_batch = 0;             // 0: the largest bench size, or 256
  int device = 0;
  int threads = 0;
  bool align = false;
};

void usage() {
  std::fprintf(stderr,
               "usage: mfn_check --model FILE.onnx --crops FILE [--backend cpu|cuda] [--flip on|off|both]\n"
               "                 [--bench 1,2,4,...] [--iterations N] [--warmup N] [--json OUT]\n"
               "                 [--max-batch N] [--device N] [--threads N] [--plugin-dir DIR] [--align]\n"
               "  --crops   MFNCROP1 file from scripts/make-test-crops.mjs (HWC uint8 BGR + 5 landmarks each)\n"
               "  --bench   batch sizes to time (images per embed call); without it, embed every crop once\n"
               "  --align   align each crop with its landmarks instead of resizing it\n");
}

bool parse_int(const char* s, int* out) {
  char* end = nullptr;
  const long v = std::strtol(s, &end, 10);
  if (!s[0] || *end || v < 0 || v > 1 << 30) return false;
  *out = static_cast<int>(v);
  return true;
}

bool parse_args(int argc, char** argv, Args* a) {
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    const auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    const char* v = nullptr;
    if (k == "--align") {
      a->align = true;
      continue;
    }
    if (k == "-h" || k == "--help") return false;
    if (!(v = value())) {
      std::fprintf(stderr, "mfn_check: %s needs a value\n", k.c_str());
      return false;
    }
    if (k == "--model") a->model = v;
    else if (k == "--crops") a->crops = v;
    else if (k == "--backend") a->backend = v;
    else if (k == "--flip") a->flip = v;
    else if (k == "--plugin-dir") a->plugin_dir = v;
    else if (k == "--json") a->json = v;
    else if (k == "--iterations") { if (!parse_int(v, &a->iterations) || a->iterations < 1) return false; }
    else if (k == "--warmup") { if (!parse_int(v, &a->warmup)) return false; }
    else if (k == "--max-batch") { if (!parse_int(v, &a->max_batch) || a->max_batch < 1) return false; }
    else if (k == "--device") { if (!parse_int(v, &a->device)) return false; }
    else if (k == "--threads") { if (!parse_int(v, &a->threads)) return false; }
    else if (k == "--bench") {
      std::stringstream list(v);
      std::string item;
      while (std::getline(list, item, ',')) {
        int b = 0;
        if (!parse_int(item.c_str(), &b) || b < 1) {
          std::fprintf(stderr, "mfn_check: bad batch size '%s'\n", item.c_str());
          return false;
        }
        a->bench.push_back(b);
      }
    } else {
      std::fprintf(stderr, "mfn_check: unknown option %s\n", k.c_str());
      return false;
    }
  }
  if (a->model.empty() || a->crops.empty()) {
    std::fprintf(stderr, "mfn_check: --model and --crops are required\n");
    return false;
  }
  if (a->backend != "cpu" && a->backend != "cuda" && a->backend != "auto") {
    std::fprintf(stderr, "mfn_check: --backend must be cpu, cuda or auto\n");
    return false;
  }
  if (a->flip != "on" && a->flip != "off" && a->flip != "both") {
    std::fprintf(stderr, "mfn_check: --flip must be on, off or both\n");
    return false;
  }
  return true;
}

std::string exe_dir() {
  std::vector<char> buf(4096);
  const ssize_t n = readlink("/proc/self/exe", buf.data(), buf.size() - 1);
  if (n <= 0) return ".";
  std::string path(buf.data(), static_cast<size_t>(n));
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool file_exists(const std::string& path) { return std::ifstream(path).good(); }

std::string default_plugin_dir() {
  const std::string dir = exe_dir();
  if (file_exists(dir + "/libmfn_cuda.so")) return dir;
  if (file_exists(dir + "/cuda/libmfn_cuda.so")) return dir + "/cuda";
  return dir;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * (v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(rank)), hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (rank - lo) * (v[hi] - v[lo]);
}

std::vector<mfn::ImageInput> make_inputs(const Crops& crops, size_t n, bool align) {
  std::vector<mfn::ImageInput> images(n);
  for (size_t i = 0; i < n; ++i) {
    const size_t k = i % crops.pixels.size();
    mfn::ImageInput& im = images[i];
    im.data = crops.pixels[k].data();
    im.size = crops.pixels[k].size();
    im.width = crops.width, im.height = crops.height, im.channels = crops.channels;
    im.order = MFN_ORDER_BGR;
    im.landmarks = align ? crops.landmarks[k].data() : nullptr;
  }
  return images;
}

std::string header_json(const Args& a, const mfn::Engine& engine, size_t crops) {
  std::string s = "{\n  \"tool\": \"mfn_check\",\n  \"model\": " + json_string(a.model) +
                  ",\n  \"crops\": " + json_string(a.crops) + ",\n  \"crop_count\": " + std::to_string(crops) +
                  ",\n  \"backend_requested\": " + json_string(a.backend) +
                  ",\n  \"backend\": " + json_string(engine.backend_name()) +
                  ",\n  \"fallback_reason\": " + json_string(engine.fallback_reason()) +
                  ",\n  \"max_batch\": " + std::to_string(engine.max_batch()) +
                  ",\n  \"align\": " + (a.align ? "true" : "false") + ",\n";
  return s;
}

int run_embed(const Args& a, mfn::Engine& engine, const Crops& crops, std::string* json) {
  const size_t n = crops.pixels.size();
  const size_t dims = static_cast<size_t>(engine.dimensions());
  const bool flip = a.flip != "off";
  const std::vector<mfn::ImageInput> images = make_inputs(crops, n, a.align);
  std::vector<float> out(n * dims);
  const auto t0 = std::chrono::steady_clock::now();
  const mfn::Status s = engine.embed(images.data(), n, flip, out.data());
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (!s.is_ok()) {
    std::fprintf(stderr, "mfn_check: embed failed: %s: %s\n", mfn::code_name(s.code()), s.message().c_str());
    return 1;
  }
  double min_norm = 1e9, max_norm = 0, checksum = 0;
  bool finite = true;
  for (size_t i = 0; i < n; ++i) {
    double norm = 0;
    for (size_t j = 0; j < dims; ++j) {
      const double v = out[i * dims + j];
      finite = finite && std::isfinite(v);
      norm += v * v;
      checksum += v * static_cast<double>((j % 7) + 1);
    }
    min_norm = std::min(min_norm, std::sqrt(norm));
    max_norm = std::max(max_norm, std::sqrt(norm));
  }
  std::printf("backend %s%s%s, %zu crops %dx%d, flip %s, align %s: %zu x %zu embeddings in %.1f ms\n",
              engine.backend_name().c_str(), engine.fallback_reason().empty() ? "" : " (fallback: ",
              engine.fallback_reason().empty() ? "" : (engine.fallback_reason() + ")").c_str(), n, crops.width,
              crops.height, flip ? "on" : "off", a.align ? "yes" : "no", n, dims, ms);
  std::printf("norms %.6f .. %.6f, all finite: %s, checksum %.6f\n", min_norm, max_norm, finite ? "yes" : "no", checksum);
  for (size_t i = 0; i < std::min<size_t>(n, 3); ++i) {
    std::printf("%s:", crops.names[i].c_str());
    for (size_t j = 0; j < std::min<size_t>(dims, 6); ++j) std::printf(" %+.5f", out[i * dims + j]);
    std::printf(" ...\n");
  }
  *json += "  \"flip\": " + std::string(flip ? "true" : "false") + ",\n  \"milliseconds\": " + json_number(ms) +
           ",\n  \"checksum\": " + json_number(checksum) + ",\n  \"embeddings\": [\n";
  for (size_t i = 0; i < n; ++i) {
    *json += "    {\"name\": " + json_string(crops.names[i]) + ", \"values\": [";
    for (size_t j = 0; j < dims; ++j) *json += (j ? "," : "") + json_number(out[i * dims + j]);
    *json += std::string("]}") + (i + 1 < n ? ",\n" : "\n");
  }
  *json += "  ]\n}\n";
  return finite ? 0 : 1;
}

int run_bench(const Args& a, mfn::Engine& engine, const Crops& crops, std::string* json) {
  std::vector<bool> flips;
  if (a.flip != "off") flips.push_back(true);
  if (a.flip != "on") flips.push_back(false);
  const size_t dims = static_cast<size_t>(engine.dimensions());
  *json += "  \"iterations\": " + std::to_string(a.iterations) + ",\n  \"warmup\": " + std::to_string(a.warmup) +
           ",\n  \"results\": [\n";
  std::printf("%-5s %6s %12s %10s %10s %10s %10s %10s %10s %10s\n", "flip", "batch", "emb/s", "p50 ms", "p90 ms",
              "p99 ms", "prep ms", "h2d ms", "comp ms", "d2h ms");
  bool first = true;
  for (bool flip : flips) {
    for (int batch : a.bench) {
      const std::vector<mfn::ImageInput> images = make_inputs(crops, static_cast<size_t>(batch), a.align);
      std::vector<float> out(static_cast<size_t>(batch) * dims);
      for (int i = 0; i < a.warmup; ++i) {
        const mfn::Status s = engine.embed(images.data(), images.size(), flip, out.data());
        if (!s.is_ok()) {
          std::fprintf(stderr, "mfn_check: embed (batch %d) failed: %s: %s\n", batch, mfn::code_name(s.code()),
                       s.message().c_str());
          return 1;
        }
      }
      std::vector<double> latencies;
      mfn_stage_times stages{};
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < a.iterations; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const mfn::Status s = engine.embed(images.data(), images.size(), flip, out.data());
        latencies.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        if (!s.is_ok()) {
          std::fprintf(stderr, "mfn_check: embed (batch %d) failed: %s: %s\n", batch, mfn::code_name(s.code()),
                       s.message().c_str());
          return 1;
        }
        const mfn_stage_times t = engine.last_timings();
        stages.preprocess_ms += t.preprocess_ms / a.iterations;
        stages.host_to_device_ms += t.host_to_device_ms / a.iterations;
        stages.compute_ms += t.compute_ms / a.iterations;
        stages.device_to_host_ms += t.device_to_host_ms / a.iterations;
      }
      const double total_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double rate = static_cast<double>(batch) * a.iterations / total_s;
      double mean = 0;
      for (double l : latencies) mean += l / latencies.size();
      const double p50 = percentile(latencies, 50), p90 = percentile(latencies, 90), p99 = percentile(latencies, 99);
      std::printf("%-5s %6d %12.1f %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f %10.3f\n", flip ? "on" : "off", batch, rate,
                  p50, p90, p99, stages.preprocess_ms, stages.host_to_device_ms, stages.compute_ms,
                  stages.device_to_host_ms);
      std::fflush(stdout);
      *json += std::string(first ? "" : ",\n") + "    {\"flip\": " + (flip ? "true" : "false") +
               ", \"batch\": " + std::to_string(batch) + ", \"embeddings_per_s\": " + json_number(rate) +
               ", \"latency_ms\": {\"mean\": " + json_number(mean) + ", \"p50\": " + json_number(p50) + ", \"p90\": " + json_number(p90) +
               ", \"p99\": " + json_number(p99) + ", \"min\": " + json_number(*std::min_element(latencies.begin(), latencies.end())) +
               ", \"max\": " + json_number(*std::max_element(latencies.begin(), latencies.end())) + "}" +
               ", \"stages_ms\": {\"preprocess\": " + json_number(stages.preprocess_ms) +
               ", \"host_to_device\": " + json_number(stages.host_to_device_ms) + ", \"compute\": " + json_number(stages.compute_ms) +
               ", \"device_to_host\": " + json_number(stages.device_to_host_ms) + "}}";
      first = false;
    }
  }
  *json += "\n  ]\n}\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (!parse_args(argc, argv, &a)) {
    usage();
    return 2;
  }
  Crops crops;
  std::string reason;
  if (!mfn_tools::read_crops_file(a.crops, &crops, &reason)) {
    std::fprintf(stderr, "mfn_check: %s\n", reason.c_str());
    return 2;
  }
  mfn::EngineOptions options;
  options.model_path = a.model;
  options.backend = a.backend == "cuda" ? mfn::BackendChoice::cuda
                    : a.backend == "cpu" ? mfn::BackendChoice::cpu
                                         : mfn::BackendChoice::automatic;
  options.threads = a.threads;
  options.device = a.device;
  options.plugin_dir = a.plugin_dir.empty() ? default_plugin_dir() : a.plugin_dir;
  int largest = 0;
  for (int b : a.bench) largest = std::max(largest, b);
  options.max_batch = a.max_batch > 0 ? a.max_batch : (largest > 0 ? largest : 256);
  std::unique_ptr<mfn::Engine> engine;
  const mfn::Status s = mfn::Engine::create(options, &engine);
  if (!s.is_ok()) {
    std::fprintf(stderr, "mfn_check: cannot create the %s engine: %s: %s\n", a.backend.c_str(), mfn::code_name(s.code()),
                 s.message().c_str());
    return 1;
  }
  std::string json = header_json(a, *engine, crops.pixels.size());
  const int rc = a.bench.empty() ? run_embed(a, *engine, crops, &json) : run_bench(a, *engine, crops, &json);
  if (rc == 0 && !a.json.empty()) {
    std::ofstream out(a.json);
    out << json;
    if (!out) {
      std::fprintf(stderr, "mfn_check: cannot write %s\n", a.json.c_str());
      return 1;
    }
  }
  return rc;
}
