// The addon's entry point: per-environment state, createEngine(), and the
// cleanup hook that closes open engines when an environment (the main thread
// or a worker_thread) shuts down.
#include <dlfcn.h>
#include <napi.h>

#include <string>
#include <vector>

#include "engine_wrap.h"
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

// Cleanup hook (JS thread of the environment, before finalizers run).
void close_engines(AddonData* addon) {
  std::vector<EngineWrap*> open(addon->engines.begin(), addon->engines.end());
  addon->engines.clear();
  for (EngineWrap* engine : open) engine->close_for_teardown();
}

mfn::BackendChoice parse_backend(Napi::Env env, const Napi::Value& value) {
  std::string name = get_string(env, value, "options.backend");
  if (name == "auto") return mfn::BackendChoice::automatic;
  if (name == "cpu") return mfn::BackendChoice::cpu;
  if (name == "cuda") return mfn::BackendChoice::cuda;
  throw make_error(env, "MFN_INVALID_ARGUMENT",
                   "Expected \"auto\", \"cpu\" or \"cuda\" for options.backend but received \"" + name + "\"");
}

// createEngine({ modelPath, manifestPath, backend, threads, device, maxBatch })
//   -> Promise<Engine>. manifestPath "" means manifest.json beside the model.
Napi::Value create_engine(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object options = get_object(env, info[0], "options");
  AddonData* addon = env.GetInstanceData<AddonData>();

  mfn::EngineOptions engine_options;
  engine_options.model_path = get_string(env, options.Get("modelPath"), "options.modelPath");
  engine_options.manifest_path = get_string(env, options.Get("manifestPath"), "options.manifestPath");
  engine_options.backend = parse_backend(env, options.Get("backend"));
  engine_options.threads = get_int(env, options.Get("threads"), "options.threads", 0, 4096);
  engine_options.device = get_int(env, options.Get("device"), "options.device", 0, 1024);
  engine_options.max_batch = get_int(env, options.Get("maxBatch"), "options.maxBatch", 1, 65536);
  engine_options.plugin_dir = addon->plugin_dir;
  return queue_create(env, addon, std::move(engine_options));
}

Napi::Object init(Napi::Env env, Napi::Object exports) {
  auto* addon = new AddonData();
  env.SetInstanceData<AddonData>(addon);  // deleted when the environment goes away
  addon->plugin_dir = addon_directory();
  Napi::Function engine_class = EngineWrap::define_class(env);
  addon->engine_constructor = Napi::Persistent(engine_class);
  env.AddCleanupHook(close_engines, addon);

  exports.Set("Engine", engine_class);
  exports.Set("createEngine", Napi::Function::New<create_engine>(env, "createEngine"));
  exports.Set("pluginDir", Napi::String::New(env, addon->plugin_dir));
  return exports;
}

}  // namespace

}  // namespace mfn_node

static Napi::Object init_addon(Napi::Env env, Napi::Object exports) {
  return mfn_node::init(env, exports);
}

NODE_API_MODULE(mfn, init_addon)
