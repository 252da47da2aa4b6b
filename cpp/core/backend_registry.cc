#include "core/backend_registry.h"

#include <dlfcn.h>

#include <mutex>

namespace mfn {
namespace {

constexpr const char* kCudaPluginName = "libmfn_cuda.so";

struct PluginApi {
  mfn_backend_score_fn score = nullptr;
  mfn_backend_create_fn create = nullptr;
  mfn_backend_embed_fn embed = nullptr;
  mfn_backend_infer_fn infer = nullptr;
  mfn_backend_timings_fn timings = nullptr;
  mfn_backend_destroy_fn destroy = nullptr;
};

// The plugin is opened once per process and never closed: the static CUDA
// runtime inside it keeps threads and atexit handlers that must not outlive
// an unmapped library.
Status open_plugin(const std::string& path, PluginApi* api) {
  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* error = dlerror();
    return Status(Code::backend_unavailable,
                  std::string("cannot load the CUDA plugin: ") + (error ? error : path.c_str()));
  }
  // The version first: a plugin of another version may lack a function of
  // this one (version 2 had no mfn_backend_infer), and should be told apart.
  auto version = reinterpret_cast<mfn_backend_api_version_fn>(dlsym(handle, "mfn_backend_api_version"));
  if (version && version() != MFN_BACKEND_API_VERSION) {
    return Status(Code::backend_unavailable, path + " has backend API version " + std::to_string(version()) +
                                                 ", this engine needs " + std::to_string(MFN_BACKEND_API_VERSION));
  }
  api->score = reinterpret_cast<mfn_backend_score_fn>(dlsym(handle, "mfn_backend_score"));
  api->create = reinterpret_cast<mfn_backend_create_fn>(dlsym(handle, "mfn_backend_create"));
  api->embed = reinterpret_cast<mfn_backend_embed_fn>(dlsym(handle, "mfn_backend_embed"));
  api->infer = reinterpret_cast<mfn_backend_infer_fn>(dlsym(handle, "mfn_backend_infer"));
  api->timings = reinterpret_cast<mfn_backend_timings_fn>(dlsym(handle, "mfn_backend_timings"));
  api->destroy = reinterpret_cast<mfn_backend_destroy_fn>(dlsym(handle, "mfn_backend_destroy"));
  if (!version || !api->score || !api->create || !api->embed || !api->infer || !api->timings || !api->destroy) {
    return Status(Code::backend_unavailable, path + " does not export the mfn backend API");
  }
  return Status::ok();
}

// A plugin backend seen through mfn::Backend. Driven by one thread at a time
// (the engine serialises calls), as the plugin ABI requires.
class PluginBackend final : public Backend {
 public:
  PluginBackend(const PluginApi& api, void* handle, int max_batch)
      : api_(api), handle_(handle), max_batch_(max_batch) {}
  ~PluginBackend() override { api_.destroy(handle_); }

  const char* name() const override { return "cuda"; }
  int max_batch() const override { return max_batch_; }

  Status embed(const mfn_image* images, size_t n, bool flip, float* out) override {
    char error[512] = {0};
    return status_of(api_.embed(handle_, images, n, flip ? 1 : 0, out, error, sizeof(error)), error);
  }

  Status infer(const mfn_image* images, size_t n, float* out) override {
    char error[512] = {0};
    return status_of(api_.infer(handle_, images, n, out, error, sizeof(error)), error);
  }

  mfn_stage_times last_timings() const override {
    mfn_stage_times times{};
    api_.timings(handle_, &times);
    return times;
  }

 private:
  static Status status_of(int32_t code, const char* error) {
    if (code == MFN_OK) return Status::ok();
    return Status(static_cast<Code>(code), error[0] ? error : "CUDA backend failed");
  }

  PluginApi api_;
  void* handle_;
  int max_batch_;
};

}  // namespace

Status load_cuda_backend(const std::string& plugin_dir, const mfn_plan& plan, const mfn_backend_config& config,
                         std::unique_ptr<Backend>* out) {
  if (plugin_dir.empty()) {
    return Status(Code::backend_unavailable, "this build of mfn has no CUDA plugin");
  }
  PluginApi api;
  MFN_RETURN_IF_ERROR(open_plugin(plugin_dir + "/" + kCudaPluginName, &api));

  char reason[512] = {0};
  if (api.score(config.device, reason, sizeof(reason)) <= 0) {
    return Status(Code::backend_unavailable, reason[0] ? reason : "no usable CUDA device");
  }
  int32_t code = MFN_OK;
  char error[512] = {0};
  void* handle = api.create(&plan, &config, &code, error, sizeof(error));
  if (!handle) {
    return Status(code == MFN_OK ? Code::internal : static_cast<Code>(code),
                  std::string("CUDA backend: ") + (error[0] ? error : "create failed"));
  }
  *out = std::make_unique<PluginBackend>(api, handle, config.max_batch);
  return Status::ok();
}

}  // namespace mfn
