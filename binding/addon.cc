// The addon's entry point: per-environment state, createEngine() and the
// CancelToken class. Each engine registers its own cleanup hook (see
// engine_wrap.h) that closes it when its environment (the main thread or a
// worker_thread) shuts down.
#include <dlfcn.h>
#include <napi.h>

#include <cstdint>
#include <string>

#include "cancel_token.h"
#include "engine_wrap.h"
#include "gallery_wrap.h"
#include "napi_util.h"
#include "workers.h"

namespace mfn_node {

namespace {

// The directory holding mfn.node: libmfn_cuda.so is looked up beside it.
std::string addon_directory() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&addon_directory), &info) == 0 || info.dli_fname == nullptr) return "";
  std::string path = info.dli_fname;
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

// Batching defaults, chosen by measurement on the CPU backend
// (bench/serving/tune.mjs, bench/results/serving-tune.md): the throughput of
// bursts and of 8 or 64 steady callers does not depend on the delay (0 to
// 5000 us), while a lone call waits about the whole delay; 250 us still
// gathers calls made within the same moment. Under overload, accepted
// throughput is the same for any queue of at least one batch and the wait
// grows with the queue; four batches absorb a burst of four full batches
// before MFN_QUEUE_FULL.
constexpr int32_t kDefaultMaxDelayUs = 250;
constexpr int32_t kDefaultMaxQueuePerBatch = 4;  // maxQueue = 4 * maxBatch images

// An optional integer option: absent (undefined) gives `fallback`.
int32_t get_optional_int(Napi::Env env, const Napi::Value& value, const std::string& name, int32_t min,
                         int32_t max, int32_t fallback) {
  return value.IsUndefined() ? fallback : get_int(env, value, name, min, max);
}

mfn::BackendChoice parse_backend(Napi::Env env, const Napi::Value& value) {
  std::string name = get_string(env, value, "options.backend");
  if (name == "auto") return mfn::BackendChoice::automatic;
  if (name == "cpu") return mfn::BackendChoice::cpu;
  if (name == "cuda") return mfn::BackendChoice::cuda;
  throw make_error(env, "MFN_INVALID_ARGUMENT",
                   "Expected \"auto\", \"cpu\" or \"cuda\" for options.backend but received \"" + name + "\"");
}

// createEngine({ modelPath, manifestPath, backend, threads, device, maxBatch,
//                maxDelayUs?, maxQueue?, detectorPath? }) -> Promise<Engine>. manifestPath ""
// means manifest.json beside the model; maxDelayUs and maxQueue fall back to
// the defaults above.
Napi::Value create_engine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object options = get_object(env, info[0], "options");
  AddonData* addon = env.GetInstanceData<AddonData>();

  mfn::EngineOptions engine_options;
  engine_options.model_path = get_string(env, options.Get("modelPath"), "options.modelPath");
  engine_options.manifest_path = get_string(env, options.Get("manifestPath"), "options.manifestPath");
  engine_options.backend = parse_backend(env, options.Get("backend"));
  engine_options.threads = get_int(env, options.Get("threads"), "options.threads", 0, mfn::kMaxThreads);
  engine_options.device = get_int(env, options.Get("device"), "options.device", 0, 1024);
  engine_options.max_batch = get_int(env, options.Get("maxBatch"), "options.maxBatch", 1, 65536);
  engine_options.plugin_dir = addon->plugin_dir;
  // Optional: "" or absent = no face detector.
  if (!options.Get("detectorPath").IsUndefined()) {
    engine_options.detector_path = get_string(env, options.Get("detectorPath"), "options.detectorPath");
  }
  mfn::BatcherOptions batching;
  batching.max_delay_us =
      get_optional_int(env, options.Get("maxDelayUs"), "options.maxDelayUs", 0, 10'000'000, kDefaultMaxDelayUs);
  // Sized from maxBatch (at most 65536), so the default stays far below 2^31.
  batching.max_queue = static_cast<size_t>(get_optional_int(env, options.Get("maxQueue"), "options.maxQueue", 1,
                                                            INT32_MAX,
                                                            kDefaultMaxQueuePerBatch * engine_options.max_batch));
  return queue_create(env, addon, std::move(engine_options), batching);
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* addon = new AddonData();
  env.SetInstanceData<AddonData>(addon);  // deleted when the environment goes away
  addon->plugin_dir = addon_directory();
  Napi::Function engine_class = EngineWrap::define_class(env);
  addon->engine_constructor = Napi::Persistent(engine_class);

  exports.Set("Engine", engine_class);
  exports.Set("CancelToken", CancelToken::define_class(env));
  exports.Set("createEngine", Napi::Function::New<create_engine>(env, "createEngine"));
  exports.Set("pluginDir", Napi::String::New(env, addon->plugin_dir));
  GalleryWrap::register_exports(env, exports);
  return exports;
}

}  // namespace

}  // namespace mfn_node

static Napi::Object init_addon(Napi::Env env, Napi::Object exports) {
  return mfn_node::init(env, exports);
}

NODE_API_MODULE(mfn, init_addon)
