/* C ABI shared by the engine and backend plugins (libmfn_cuda.so).
 * Plain C structs only: the plugin may be built by another compiler or a
 * different C++ runtime, so nothing C++ crosses this boundary. Bump
 * MFN_BACKEND_API_VERSION whenever a struct or function below changes. */
#ifndef MFN_ABI_H_
#define MFN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MFN_BACKEND_API_VERSION 3

/* Status codes returned across the ABI; same values as mfn::Code. */
enum mfn_code {
  MFN_OK = 0,
  MFN_E_INVALID_ARGUMENT = 1,
  MFN_E_INVALID_DIMENSIONS = 2,
  MFN_E_INVALID_CHANNELS = 3,
  MFN_E_INVALID_LANDMARKS = 4,
  MFN_E_MODEL_INVALID = 5,
  MFN_E_MODEL_UNSUPPORTED = 6,
  MFN_E_BACKEND_UNAVAILABLE = 7,
  MFN_E_CUDA_ERROR = 8,
  MFN_E_OUT_OF_MEMORY = 9,
  MFN_E_QUEUE_FULL = 10,
  MFN_E_DISPOSED = 11,
  MFN_E_ABORTED = 12,
  MFN_E_INTERNAL = 13,
  MFN_E_NONFINITE = 14
};

/* Pixel channel order of caller images. 4-channel images carry alpha last. */
enum mfn_pixel_order { MFN_ORDER_RGB = 0, MFN_ORDER_BGR = 1 };

/* How a sample outside the source image is filled. */
enum mfn_border { MFN_BORDER_CLAMP = 0, MFN_BORDER_ZERO = 1 };

/* One caller image plus the sampling transform the engine computed for it.
 * Every image, aligned or merely resized, is sampled the same way:
 *   src_x = t[0]*dst_x + t[1]*dst_y + t[2]
 *   src_y = t[3]*dst_x + t[4]*dst_y + t[5]
 * with pixel centres at integer coordinates, bilinear interpolation, and
 * `border` deciding what lies outside. A 112x112 input gets the identity and
 * is read exactly. The mirror image is the model-space crop flipped
 * horizontally (dst_x -> width-1-dst_x), as in the insightface protocol. */
typedef struct mfn_image {
  const uint8_t* data;    /* HWC uint8, rows `row_stride` bytes apart */
  int32_t width;
  int32_t height;
  int32_t channels;       /* 3 or 4 */
  int32_t order;          /* enum mfn_pixel_order */
  size_t row_stride;      /* bytes; >= width*channels */
  float transform[6];     /* dst (model input) -> src (image) */
  int32_t border;         /* enum mfn_border */
} mfn_image;

/* What a layer computes. */
enum mfn_layer_op {
  MFN_OP_CONV = 0,    /* convolution with the fused epilogue below */
  MFN_OP_MAXPOOL = 1  /* max over each window (kernel/stride/pad fields; padding never wins);
                         in_c == out_c, group == out_c, no weights, no epilogue */
};

/* One lowered layer: y = conv(x) + bias, then the residual add and the PReLU
 * in the order `residual_after_act` says. Relu is a PReLU with slope 0; a
 * linear layer has slope == NULL. Gemm/MatMul and GlobalAveragePool are
 * lowered to convolutions whose kernel covers the whole input. A layer with
 * op MFN_OP_MAXPOOL has only geometry (weight, bias and slope NULL). */
typedef struct mfn_conv_layer {
  int32_t input;          /* tensor index (0 = the network input) */
  int32_t output;         /* tensor index */
  int32_t residual;       /* tensor index added to the output, or -1 */
  int32_t residual_after_act; /* 1: act(conv)+res; 0: act(conv+res) */
  int32_t in_c, in_h, in_w;
  int32_t out_c, out_h, out_w;
  int32_t kernel_h, kernel_w;
  int32_t stride_h, stride_w;
  int32_t pad_top, pad_left, pad_bottom, pad_right;
  int32_t dilation_h, dilation_w;
  int32_t group;
  const float* weight;    /* [out_c][in_c/group][kernel_h][kernel_w], BN folded */
  const float* bias;      /* [out_c], never NULL (zeros when the model has none) */
  const float* slope;     /* [out_c] PReLU slopes, or NULL for a linear layer */
  int32_t op;             /* enum mfn_layer_op; 0 (conv) when zero-initialised */
} mfn_conv_layer;

typedef struct mfn_tensor_desc {
  int32_t c, h, w;        /* per image; the batch dimension is dynamic */
} mfn_tensor_desc;

/* The whole network after lowering. Owned by the engine; a backend copies
 * what it needs during create and must not keep pointers past it. */
typedef struct mfn_plan {
  int32_t num_tensors;
  const mfn_tensor_desc* tensors;   /* tensors[0] is the network input */
  int32_t num_layers;
  const mfn_conv_layer* layers;     /* in execution order */
  int32_t output;                   /* tensor index of the embedding (c x 1 x 1) */
  int32_t embedding_size;           /* 0 for a network with raw outputs (a detector) */
  /* Preprocessing: model channel k takes pixel channel channel_src[k], and
   * its value is pixel * input_scale[k] + input_bias[k]. This folds the
   * manifest's channel order, mean and std, plus any constant Sub/Mul the
   * graph applies to its input. */
  int32_t channel_src[3];           /* index into an RGB-ordered pixel */
  float input_scale[3];
  float input_bias[3];
  /* A network with raw outputs (a detector's score and box maps): the
   * tensors, in the manifest's order, that a run returns, each as h x w x c
   * floats (NHWC). num_outputs == 0 for an embedding network. */
  int32_t num_outputs;
  const int32_t* outputs;
} mfn_plan;

typedef struct mfn_backend_config {
  int32_t device;
  int32_t max_batch;      /* images per call, before flip doubling */
  int32_t threads;        /* host threads a backend may use; 0 = all cores */
} mfn_backend_config;

/* Wall-clock time of the stages of the last embed or infer call, milliseconds; a
 * stage a backend does not have stays 0. */
typedef struct mfn_stage_times {
  double preprocess_ms;
  double host_to_device_ms;
  double compute_ms;
  double device_to_host_ms;
} mfn_stage_times;

/* Functions a backend plugin exports (resolved with dlsym). */
typedef int32_t (*mfn_backend_api_version_fn)(void);
/* > 0: usable, higher is better. 0: unusable, with the reason written to
 * `reason` (NUL-terminated, truncated to reason_size). */
typedef int32_t (*mfn_backend_score_fn)(int32_t device, char* reason, size_t reason_size);
/* Returns NULL on failure with the message in `err`, and the mfn_code in *code. */
typedef void* (*mfn_backend_create_fn)(const mfn_plan* plan, const mfn_backend_config* config,
                                       int32_t* code, char* err, size_t err_size);
/* Embeds n images into out[n * embedding_size] (L2-normalised; with flip,
 * normalise(f(x) + f(mirror(x)))). Returns an mfn_code. One thread at a time
 * per handle. */
typedef int32_t (*mfn_backend_embed_fn)(void* handle, const mfn_image* images, size_t n,
                                        int32_t flip, float* out, char* err, size_t err_size);
/* A plan with raw outputs (num_outputs > 0, a detector): runs n images
 * (never mirrored) into out[n * F] FP32 values, F being the sum of h*w*c
 * over plan.outputs; each image's F values are its output tensors one after
 * the other, in plan.outputs order, each NHWC. Nothing is normalised.
 * MFN_E_INVALID_ARGUMENT on a handle created for an embedding network (and
 * embed on one created for a raw-output network). Returns an mfn_code. One
 * thread at a time per handle. Since API version 3. */
typedef int32_t (*mfn_backend_infer_fn)(void* handle, const mfn_image* images, size_t n, float* out, char* err,
                                        size_t err_size);
typedef void (*mfn_backend_timings_fn)(void* handle, mfn_stage_times* times);
typedef void (*mfn_backend_destroy_fn)(void* handle);

#ifdef __cplusplus
}
#endif

#endif /* MFN_ABI_H_ */
