// The onnxruntime-node peer: the same model file on ONNX Runtime's CPU
// execution provider, with the same threads (intra-op = --threads, inter-op
// 1) and the same batch. It gets model-input tensors prepared before the
// timed phase (so it does no preprocessing), with flip the mirrored tensors
// too (2 x batch rows per run), and sums the pairs and L2-normalises in the
// timed call, as mfn does natively.
//
// onnxruntime-node runs each session.run() synchronously on the JavaScript
// thread (deferred with setImmediate), so concurrent calls are serialised.
import { readManifest, type LoadedPixels } from "../pixels.js";
import type { Driver, RunSpec } from "../protocol.js";

export async function createOrtDriver(spec: RunSpec, pixels: LoadedPixels): Promise<Driver> {
  let ort: typeof import("onnxruntime-node");
  try {
    ort = await import("onnxruntime-node");
  } catch (err) {
    throw new Error(`--peers needs onnxruntime-node (npm install onnxruntime-node): ${(err as Error).message}`);
  }
  const tensorOf = pixels.tensor;
  if (tensorOf === null) throw new Error("the pixel set has no model-input tensors for the peer");
  const manifest = readManifest(spec.model);
  const session = await ort.InferenceSession.create(spec.model, {
    executionProviders: ["cpu"],
    intraOpNumThreads: spec.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: "all",
  });
  const perImage = spec.flip ? 2 : 1;
  const rows = spec.batch * perImage;
  const dims = manifest.embeddingSize;
  // One input tensor per in-flight slot, so that concurrent calls embed
  // different images, as they do with mfn.
  const feeds = Array.from({ length: spec.concurrency }, (_, slot) => {
    const data = new Float32Array(rows * pixels.floatsPerImage);
    for (let i = 0; i < spec.batch; i++) {
      const k = slot * spec.batch + i;
      data.set(tensorOf(k, false), i * perImage * pixels.floatsPerImage);
      if (spec.flip) data.set(tensorOf(k, true), (i * perImage + 1) * pixels.floatsPerImage);
    }
    return { [manifest.input]: new ort.Tensor("float32", data, [rows, 3, manifest.height, manifest.width]) };
  });
  const embeddings = new Float32Array(spec.batch * dims);
  return {
    backend: "cpu",
    fallbackReason: null,
    async call(slot) {
      const out = await session.run(feeds[slot]);
      const raw = out[manifest.output].data as Float32Array;
      if (raw.length !== rows * dims) throw new Error(`onnxruntime-node returned ${raw.length} values, expected ${rows * dims}`);
      for (let i = 0; i < spec.batch; i++) {
        let norm = 0;
        for (let d = 0; d < dims; d++) {
          let v = raw[i * perImage * dims + d];
          if (spec.flip) v += raw[(i * perImage + 1) * dims + d];
          embeddings[i * dims + d] = v;
          norm += v * v;
        }
        const inv = 1 / Math.sqrt(norm);
        for (let d = 0; d < dims; d++) embeddings[i * dims + d] *= inv;
      }
    },
    stages: () => null,
    dispose: () => session.release(),
  };
}
