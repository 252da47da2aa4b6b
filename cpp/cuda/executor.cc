#include "cuda/executor.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

#include "cuda/common.cuh"
#include "cuda/conv1x1.cuh"
#include "cuda/conv_generic.cuh"
#include "cuda/dwconv.cuh"
#include "cuda/maxpool.cuh"
#include "cuda/postprocess.cuh"
#include "cuda/raw_output.cuh"
#include "cuda/stem_conv.cuh"
#include "cuda/staging.h"

namespace mfn_cuda {
namespace {

// Bytes of caller pixels staged per chunk (a chunk always takes at least
// one image, however large).
constexpr size_t kMaxChunkPixelBytes = size_t(256) << 20;

double elapsed_ms(cudaEvent_t a, cudaEvent_t b) {
  float ms = 0.f;
  return cudaEventElapsedTime(&ms, a, b) == cudaSuccess ? ms : 0.0;
}

}  // namespace

std::string device_problem(int device) {
  int driver = 0;
  cudaDriverGetVersion(&driver);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err == cudaErrorInsufficientDriver) {
    if (driver == 0) return "no NVIDIA driver found (libcuda.so.1 is not installed or cannot be loaded)";
    int runtime = 0;
    cudaRuntimeGetVersion(&runtime);
    return "the NVIDIA driver supports CUDA " + std::to_string(driver / 1000) + "." + std::to_string(driver % 1000 / 10) +
           ", this plugin needs CUDA " + std::to_string(runtime / 1000) + "." + std::to_string(runtime % 1000 / 10) +
           " (" + cudaGetErrorString(err) + ")";
  }
  if (err == cudaErrorNoDevice || (err == cudaSuccess && count == 0)) return "no CUDA device found (cudaErrorNoDevice)";
  if (err != cudaSuccess) {
    return std::string("cannot query CUDA devices: ") + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) + ")";
  }
  if (device < 0 || device >= count) {
    return "CUDA device " + std::to_string(device) + " does not exist (" + std::to_string(count) + " device" +
           (count == 1 ? "" : "s") + " found)";
  }
  cudaDeviceProp prop;
  const cudaError_t prop_err = cudaGetDeviceProperties(&prop, device);
  if (prop_err != cudaSuccess) return std::string("cannot query CUDA device properties: ") + cudaGetErrorString(prop_err);
  if (prop.major * 10 + prop.minor < 75) {
    return std::string(prop.name) + " has compute capability " + std::to_string(prop.major) + "." +
           std::to_string(prop.minor) + "; the CUDA backend needs 7.5 (Turing) or newer";
  }
  const cudaError_t set_err = cudaSetDevice(device);
  if (set_err != cudaSuccess) return std::string("cannot use CUDA device: ") + cudaGetErrorString(set_err);
  void* probe = nullptr;
  const cudaError_t alloc_err = cudaMalloc(&probe, size_t(1) << 20);
  if (alloc_err != cudaSuccess) {
    cudaGetLastError();
    return std::string("cannot allocate memory on ") + prop.name + ": " + cudaGetErrorString(alloc_err);
  }
  cudaFree(probe);
  return "";
}

Error Executor::create(const mfn_plan& plan, const mfn_backend_config& config, std::unique_ptr<Executor>* out) {
  std::unique_ptr<Executor> executor(new Executor());
  MFN_CUDA_RETURN_IF_ERROR(executor->init(plan, config));
  *out = std::move(executor);
  return Error::none();
}

Error Executor::init(const mfn_plan& plan, const mfn_backend_config& config) {
  if (config.max_batch < 1 || config.max_batch > (1 << 20)) {
    return make_error(MFN_E_INVALID_ARGUMENT, "max_batch must be in [1, 1048576], got " + std::to_string(config.max_batch));
  }
  max_batch_ = config.max_batch;
  device_ = config.device;
  // Plan first: a model the backend cannot run is reported as such even on a
  // machine whose GPU is busy or missing. MFN_CUDA_FUSE=0 keeps every
  // depthwise layer a kernel of its own: the reference path when a fused
  // kernel is suspected, and a benchmark baseline.
  const char* fuse = std::getenv("MFN_CUDA_FUSE");
  const bool fuse_depthwise = !(fuse && std::strcmp(fuse, "0") == 0);
  passes_per_image_ = plan.num_outputs != 0 ? 1 : 2;  // raw outputs are never mirrored
  MFN_CUDA_RETURN_IF_ERROR(build_plan(plan, passes_per_image_ * max_batch_, &net_, fuse_depthwise));
  input_h_ = net_.tensors[0].h;
  input_w_ = net_.tensors[0].w;

  const std::string problem = device_problem(device_);
  if (!problem.empty()) return make_error(MFN_E_BACKEND_UNAVAILABLE, problem);
  MFN_CUDA_CHECK(cudaMalloc(&weights_dev_, std::max<size_t>(net_.weights_fp16.size(), 8) * sizeof(uint16_t)));
  MFN_CUDA_CHECK(cudaMalloc(&params_dev_, std::max<size_t>(net_.params_fp32.size(), 4) * sizeof(float)));
  MFN_CUDA_CHECK(cudaMemcpy(weights_dev_, net_.weights_fp16.data(), net_.weights_fp16.size() * sizeof(uint16_t),
                            cudaMemcpyHostToDevice));
  MFN_CUDA_CHECK(cudaMemcpy(params_dev_, net_.params_fp32.data(), net_.params_fp32.size() * sizeof(float),
                            cudaMemcpyHostToDevice));
  const size_t passes = static_cast<size_t>(passes_per_image_) * max_batch_;
  for (size_t elements : net_.buffer_elements) {
    void* buffer = nullptr;
    const cudaError_t err = cudaMalloc(&buffer, elements * passes * sizeof(__half));
    if (err != cudaSuccess) {
      Error e = cuda_error(err, "cudaMalloc(activations)", __FILE__, __LINE__);
      e.message += " (" + std::to_string(net_.activation_bytes(passes) >> 20) + " MiB of activations for max_batch " +
                   std::to_string(max_batch_) + (passes_per_image_ == 2 ? " with flip" : "") + "; lower max_batch)";
      return e;
    }
    buffers_.push_back(buffer);
  }
  for (Slot& slot : slots_) MFN_CUDA_RETURN_IF_ERROR(init_slot(&slot));
  return Error::none();
}

Error Executor::init_slot(Slot* slot) {
  MFN_CUDA_CHECK(cudaStreamCreateWithFlags(&slot->stream, cudaStreamNonBlocking));
  for (cudaEvent_t* ev : {&slot->begin, &slot->h2d_done, &slot->compute_begin, &slot->compute_done, &slot->end}) {
    MFN_CUDA_CHECK(cudaEventCreate(ev));
  }
  const size_t descs = static_cast<size_t>(max_batch_) * sizeof(ImageDesc);
  const size_t outs = static_cast<size_t>(max_batch_) * net_.output_floats * sizeof(float);
  MFN_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&slot->descs_host), descs, cudaHostAllocDefault));
  MFN_CUDA_CHECK(cudaMalloc(&slot->descs_dev, descs));
  MFN_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&slot->out_host), outs, cudaHostAllocDefault));
  MFN_CUDA_CHECK(cudaMalloc(&slot->out_dev, outs));
  // Room for a batch of typical crops up front; grown on demand.
  return reserve_pixels(slot, std::min<size_t>(static_cast<size_t>(max_batch_), 64) * 160 * 160 * 3);
}

Executor::~Executor() {
  // Runs on whichever thread destroys the handle; errors are ignored, there
  // is nobody left to report them to.
  cudaSetDevice(device_);
  for (Slot& slot : slots_) {
    if (slot.stream) cudaStreamSynchronize(slot.stream);
#if MFN_CUDA_GRAPHS
    for (auto& graph : slot.graphs) cudaGraphExecDestroy(graph.second);
#endif
    for (cudaEvent_t ev : {slot.begin, slot.h2d_done, slot.compute_begin, slot.compute_done, slot.end}) {
      if (ev) cudaEventDestroy(ev);
    }
    if (slot.stream) cudaStreamDestroy(slot.stream);
    cudaFreeHost(slot.descs_host);
    cudaFree(slot.descs_dev);
    cudaFreeHost(slot.pixels_host);
    cudaFree(slot.pixels_dev);
    cudaFreeHost(slot.out_host);
    cudaFree(slot.out_dev);
  }
  for (void* buffer : buffers_) cudaFree(buffer);
  cudaFree(weights_dev_);
  cudaFree(params_dev_);
}

Error Executor::reserve_pixels(Slot* slot, size_t bytes) {
  if (bytes <= slot->pixels_capacity) return Error::none();
  const size_t capacity = std::max(bytes, slot->pixels_capacity + slot->pixels_capacity / 2);
  // The slot is idle here (finished), so its old buffers are no longer read.
  cudaFreeHost(slot->pixels_host);
  cudaFree(slot->pixels_dev);
  slot->pixels_host = nullptr;
  slot->pixels_dev = nullptr;
  slot->pixels_capacity = 0;
  MFN_CUDA_CHECK(cudaHostAlloc(reinterpret_cast<void**>(&slot->pixels_host), capacity, cudaHostAllocWriteCombined));
  MFN_CUDA_CHECK(cudaMalloc(&slot->pixels_dev, capacity));
  slot->pixels_capacity = capacity;
  return Error::none();
}

// Enqueues every kernel of one pass over `bucket` images on the slot's
// stream (captured into a graph by graph_for, or run as is without graphs).
Error Executor::enqueue_network(const Slot& slot, int bucket, bool flip) const {
  const cudaStream_t s = slot.stream;
  const int passes = bucket * (flip ? 2 : 1);
  const __half* wh = reinterpret_cast<const __half*>(weights_dev_);

  PreprocessParams pre{};
  pre.images = slot.descs_dev;
  pre.x = act(0);
  pre.count = bucket;
  pre.height = input_h_;
  pre.width = input_w_;
  pre.flip = flip;
  for (int k = 0; k < 3; ++k) {
    pre.channel_src[k] = net_.channel_src[k];
    pre.scale[k] = net_.input_scale[k];
    pre.bias[k] = net_.input_bias[k];
  }
  MFN_CUDA_CHECK(launch_preprocess(pre, s));

  for (const Step& st : net_.steps) {
    const float* bias = params_dev_ + st.bias_offset;
    const float* slope = st.has_slope ? params_dev_ + st.slope_offset : nullptr;
    const __half* residual = st.residual >= 0 ? act(st.residual) : nullptr;
    // The direct convolutions (stem, generic): FP32 weights, one geometry.
    const auto fill_direct = [&](auto* p) {
      p->x = act(st.input);
      p->w = params_dev_ + st.weight_offset;
      p->bias = bias;
      p->slope = slope;
      p->residual = residual;
      p->y = act(st.output);
      p->batch = passes;
      p->g = ConvGeometry{st.in_c,     st.in_h,     st.in_w,     st.out_c,   st.out_h,    st.out_w,      st.kernel_h,
                          st.kernel_w, st.stride_h, st.stride_w, st.pad_top, st.pad_left, st.dilation_h, st.dilation_w};
      p->residual_after_act = st.residual_after_act;
    };
    switch (st.kind) {
      case KernelKind::gemm: {
        Conv1x1Params p{};
        p.a = st.dw.layer >= 0 ? nullptr : act(st.input);
        p.b = wh + st.weight_offset;
        p.bias = bias;
        p.slope = slope;
        p.residual = residual;
        p.c = act(st.output);
        p.m = passes * st.out_h * st.out_w;
        p.n = st.out_c;
        p.k = st.gemm_k;
        p.residual_after_act = st.residual_after_act;
        if (st.dw.layer >= 0) {
          const FusedDepthwise& f = st.dw;
          p.dw_x = act(f.input);
          p.dw_w = wh + f.weight_offset;
          p.dw_bias = params_dev_ + f.bias_offset;
          p.dw_slope = f.has_slope ? params_dev_ + f.slope_offset : nullptr;
          p.dw = DwGeometry{f.c, f.in_h, f.in_w, f.out_h, f.out_w, f.kernel_h, f.kernel_w, f.stride_h, f.stride_w,
                            f.pad_top, f.pad_left, f.dilation_h, f.dilation_w};
        }
        MFN_CUDA_CHECK(launch_conv1x1(p, s));
        break;
      }
      case KernelKind::dwconv: {
        DwconvParams p{};
        p.x = act(st.input);
        p.w = wh + st.weight_offset;
        p.bias = bias;
        p.slope = slope;
        p.residual = residual;
        p.y = act(st.output);
        p.batch = passes;
        p.g = DwGeometry{st.in_c, st.in_h, st.in_w, st.out_h, st.out_w, st.kernel_h, st.kernel_w, st.stride_h,
                         st.stride_w, st.pad_top, st.pad_left, st.dilation_h, st.dilation_w};
        p.residual_after_act = st.residual_after_act;
        MFN_CUDA_CHECK(launch_dwconv(p, s));
        break;
      }
      case KernelKind::stem: {
        StemParams p{};
        fill_direct(&p);
        MFN_CUDA_CHECK(launch_stem_conv(p, s));
        break;
      }
      case KernelKind::generic: {
        ConvGenericParams p{};
        fill_direct(&p);
        p.group = st.group;
        MFN_CUDA_CHECK(launch_conv_generic(p, s));
        break;
      }
      case KernelKind::maxpool: {
        MaxpoolParams p{};
        p.x = act(st.input);
        p.y = act(st.output);
        p.batch = passes;
        p.g = PoolGeometry{st.in_c,     st.in_h,     st.in_w,     st.out_h,   st.out_w,
                           st.kernel_h, st.kernel_w, st.stride_h, st.stride_w, st.pad_top, st.pad_left};
        MFN_CUDA_CHECK(launch_maxpool(p, s));
        break;
      }
    }
  }
  return enqueue_outputs(slot, bucket, flip);
}

// The last kernels of a pass, into the slot's copy-out buffer: the
// embeddings' pair sum and L2 norm, or each raw output converted to FP32 at
// its place among an image's outputs.
Error Executor::enqueue_outputs(const Slot& slot, int bucket, bool flip) const {
  const cudaStream_t s = slot.stream;
  if (!net_.raw()) {
    PostprocessParams post{};
    post.embeddings = act(net_.output);
    post.out = slot.out_dev;
    post.count = bucket;
    post.size = net_.embedding_size;
    post.flip = flip;
    MFN_CUDA_CHECK(launch_postprocess(post, s));
    return Error::none();
  }
  size_t offset = 0;
  for (int t : net_.outputs) {
    RawOutputParams p{};
    p.x = act(t);
    p.out = slot.out_dev;
    p.count = bucket;
    p.elements = net_.tensors[t].elements;
    p.stride = net_.output_floats;
    p.offset = offset;
    MFN_CUDA_CHECK(launch_raw_output(p, s));
    offset += p.elements;
  }
  return Error::none();
}

#if MFN_CUDA_GRAPHS
Error Executor::graph_for(Slot* slot, int bucket, bool flip, cudaGraphExec_t* exec) {
  const int key = bucket * 2 + (flip ? 1 : 0);
  for (const auto& graph : slot->graphs) {
    if (graph.first == key) {
      *exec = graph.second;
      return Error::none();
    }
  }
  // Thread-local capture: other threads (other engines) may keep calling
  // CUDA while this one records.
  MFN_CUDA_CHECK(cudaStreamBeginCapture(slot->stream, cudaStreamCaptureModeThreadLocal));
  const Error enqueued = enqueue_network(*slot, bucket, flip);
  cudaGraph_t graph = nullptr;
  const cudaError_t ended = cudaStreamEndCapture(slot->stream, &graph);
  if (!enqueued.ok() || ended != cudaSuccess) {
    if (graph) cudaGraphDestroy(graph);
    if (!enqueued.ok()) return enqueued;
    return cuda_error(ended, "cudaStreamEndCapture(stream, &graph)", __FILE__, __LINE__);
  }
  cudaGraphExec_t instance = nullptr;
  // CUDA 12 gave cudaGraphInstantiate a flags argument; CUDA 11 has that
  // form under another name (its cudaGraphInstantiate takes an error node
  // and a log buffer instead).
#if CUDART_VERSION >= 12000
  const cudaError_t instantiated = cudaGraphInstantiate(&instance, graph, 0);
#else
  const cudaError_t instantiated = cudaGraphInstantiateWithFlags(&instance, graph, 0);
#endif
  cudaGraphDestroy(graph);
  MFN_CUDA_CHECK(instantiated);
  slot->graphs.emplace_back(key, instance);
  *exec = instance;
  return Error::none();
}
#endif  // MFN_CUDA_GRAPHS

// Stages `count` images into the slot (host), then enqueues copy-in, the
// network (its graph, or its kernels) and copy-out on the slot's stream.
// The network waits for the previous chunk's compute (the other slot):
// activations are shared.
Error Executor::submit(Slot* slot, const Slot& previous, const mfn_image* images, const Rect* rects, size_t count,
                        bool flip, float* out) {
  const int bucket = bucket_for(static_cast<int>(count), max_batch_);
#if MFN_CUDA_GRAPHS
  cudaGraphExec_t exec = nullptr;
  MFN_CUDA_RETURN_IF_ERROR(graph_for(slot, bucket, flip, &exec));
#endif
  const auto started = std::chrono::steady_clock::now();

  // Each region of caller pixels once (several faces of one photo share
  // theirs), then every image's descriptor pointing into its region.
  const StagingPlan staging = plan_staging(images, rects, count);
  const size_t total = staging.bytes;
  MFN_CUDA_RETURN_IF_ERROR(reserve_pixels(slot, total));
  std::vector<size_t> region_offset(staging.regions.size());
  size_t offset = 0;
  for (size_t k = 0; k < staging.regions.size(); ++k) {
    const mfn_image& im = images[staging.regions[k].image];
    const Rect& r = staging.regions[k].rect;
    const size_t row_bytes = static_cast<size_t>(r.w) * im.channels;
    const uint8_t* src = im.data + static_cast<size_t>(r.y0) * im.row_stride + static_cast<size_t>(r.x0) * im.channels;
    uint8_t* dst = slot->pixels_host + offset;
    if (im.row_stride == row_bytes) {
      std::memcpy(dst, src, row_bytes * r.h);
    } else {
      for (int y = 0; y < r.h; ++y) std::memcpy(dst + y * row_bytes, src + y * im.row_stride, row_bytes);
    }
    region_offset[k] = offset;
    offset += row_bytes * r.h;
  }
  for (size_t i = 0; i < count; ++i) {
    const mfn_image& im = images[i];
    const Rect& r = staging.regions[staging.region_of[i]].rect;
    ImageDesc& d = slot->descs_host[i];
    d.pixels = slot->pixels_dev + region_offset[staging.region_of[i]];
    d.row_stride = static_cast<int64_t>(r.w) * im.channels;
    d.x0 = r.x0, d.y0 = r.y0, d.sub_w = r.w, d.sub_h = r.h;
    d.width = im.width, d.height = im.height;
    d.channels = im.channels, d.order = im.order, d.border = im.border;
    std::memcpy(d.transform, im.transform, sizeof(d.transform));
  }
  for (int i = static_cast<int>(count); i < bucket; ++i) {
    slot->descs_host[i] = ImageDesc{};  // padding: the preprocess writes zeros
  }
  timings_.preprocess_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();

  const cudaStream_t s = slot->stream;
  MFN_CUDA_CHECK(cudaEventRecord(slot->begin, s));
  MFN_CUDA_CHECK(cudaMemcpyAsync(slot->descs_dev, slot->descs_host, bucket * sizeof(ImageDesc), cudaMemcpyHostToDevice, s));
  if (total > 0) MFN_CUDA_CHECK(cudaMemcpyAsync(slot->pixels_dev, slot->pixels_host, total, cudaMemcpyHostToDevice, s));
  MFN_CUDA_CHECK(cudaEventRecord(slot->h2d_done, s));
  MFN_CUDA_CHECK(cudaStreamWaitEvent(s, previous.compute_done, 0));
  MFN_CUDA_CHECK(cudaEventRecord(slot->compute_begin, s));
#if MFN_CUDA_GRAPHS
  MFN_CUDA_CHECK(cudaGraphLaunch(exec, s));
#else
  MFN_CUDA_RETURN_IF_ERROR(enqueue_network(*slot, bucket, flip));
#endif
  MFN_CUDA_CHECK(cudaEventRecord(slot->compute_done, s));
  MFN_CUDA_CHECK(cudaMemcpyAsync(slot->out_host, slot->out_dev, count * net_.output_floats * sizeof(float),
                                 cudaMemcpyDeviceToHost, s));
  MFN_CUDA_CHECK(cudaEventRecord(slot->end, s));
  slot->busy = true;
  slot->dest = out;
  slot->count = count;
  return Error::none();
}

// Waits for the slot's chunk, accounts its stage times and copies its
// embeddings (or raw outputs) to the caller.
Error Executor::finish(Slot* slot) {
  if (!slot->busy) return Error::none();
  slot->busy = false;
  MFN_CUDA_CHECK(cudaEventSynchronize(slot->end));
  timings_.host_to_device_ms += elapsed_ms(slot->begin, slot->h2d_done);
  timings_.compute_ms += elapsed_ms(slot->compute_begin, slot->compute_done);
  timings_.device_to_host_ms += elapsed_ms(slot->compute_done, slot->end);
  std::memcpy(slot->dest, slot->out_host, slot->count * net_.output_floats * sizeof(float));
  return Error::none();
}

// After a failure: drain both slots so the handle can be used again, and
// remember when the CUDA context itself is gone.
Error Executor::fail(Error error) {
  bool sticky = is_sticky(static_cast<cudaError_t>(error.cuda_status));
  for (Slot& slot : slots_) {
    slot.busy = false;
#if MFN_CUDA_GRAPHS
    cudaStreamCaptureStatus capture = cudaStreamCaptureStatusNone;
    if (cudaStreamIsCapturing(slot.stream, &capture) == cudaSuccess && capture != cudaStreamCaptureStatusNone) {
      cudaGraph_t graph = nullptr;
      cudaStreamEndCapture(slot.stream, &graph);
      if (graph) cudaGraphDestroy(graph);
    }
#endif
    const cudaError_t drained = cudaStreamSynchronize(slot.stream);
    if (is_sticky(drained)) sticky = true;
  }
  cudaGetLastError();  // clear a non-sticky launch error
  if (sticky) {
    broken_ = error.message;
    error.message += "; the CUDA context is unusable now: restart the process to use the GPU again";
  }
  return error;
}

Error Executor::embed(const mfn_image* images, size_t n, bool flip, float* out) {
  if (net_.raw()) {
    timings_ = mfn_stage_times{};
    return make_error(MFN_E_INVALID_ARGUMENT, "this network has raw outputs; use infer()");
  }
  return run(images, n, flip, out);
}

Error Executor::infer(const mfn_image* images, size_t n, float* out) {
  if (!net_.raw()) {
    timings_ = mfn_stage_times{};
    return make_error(MFN_E_INVALID_ARGUMENT, "this network computes embeddings; use embed()");
  }
  return run(images, n, false, out);
}

// embed and infer: checks, then the chunks over the two slots.
Error Executor::run(const mfn_image* images, size_t n, bool flip, float* out) {
  timings_ = mfn_stage_times{};
  if (!broken_.empty()) {
    return make_error(MFN_E_CUDA_ERROR, "the CUDA context failed earlier (" + broken_ + "); restart the process to use the GPU again");
  }
  if (n == 0) return Error::none();
  if (!images || !out) return make_error(MFN_E_INVALID_ARGUMENT, "null images or output");
  std::vector<Rect> rects(n);
  for (size_t i = 0; i < n; ++i) {
    MFN_CUDA_RETURN_IF_ERROR(check_image(images[i], i));
    rects[i] = sampled_rect(images[i], input_w_, input_h_);
  }
  MFN_CUDA_CHECK(cudaSetDevice(device_));
  // A failure this thread left behind must not be blamed on this call's
  // launches; a sticky one means the context is gone.
  const cudaError_t stale = cudaGetLastError();
  if (is_sticky(stale)) return fail(cuda_error(stale, "cudaGetLastError()", __FILE__, __LINE__));

  std::vector<size_t> bytes(n);
  for (size_t i = 0; i < n; ++i) bytes[i] = rect_bytes(rects[i], images[i].channels);
  for (const PipelineStep& step : pipeline_steps(bytes, max_batch_, kMaxChunkPixelBytes)) {
    Slot* slot = &slots_[step.slot];
    Error e = step.kind == PipelineStep::finish
                  ? finish(slot)
                  : submit(slot, slots_[step.slot ^ 1], images + step.first, rects.data() + step.first, step.count,
                           flip, out + step.first * net_.output_floats);
    if (!e.ok()) return fail(std::move(e));
  }
  return Error::none();
}

}  // namespace mfn_cuda
