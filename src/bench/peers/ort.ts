// The onnxruntime-node peer: the same model file on ONNX Runtime's CPU
// execution provider, with the same threads (intra-op = --threads, inter-op
// 1) and the same batch. It gets model-input tensors prepared before the
// timed phase (so it does no preprocessing), with flip the mirrored tensors
// too (2 x batch rows per run), and sums the pairs and L2-normalises in the
// timed call, as mfn does natively.
//
// onnxruntime-node runs each session.run() synchronously on the JavaScript
// thread (deferred with setImmediate), so concurrent calls are serialised.
//
// ORT at its best on this machine, not at its defaults: denormals are
// flushed to zero (set_denormal_as_zero), and with --ort-opt auto the peer
// times the graph optimisation levels "all" (ORT's default, with the NCHWc
// layout transform, slower on some Intel CPUs: microsoft/onnxruntime#26992)
// and "extended" on one image before the warm-up and keeps the faster; the
// choice and both timings are in the result.
import { readManifest, type LoadedPixels } from "../pixels.js";
import type { Driver, PeerTuning, RunSpec } from "../protocol.js";
import { median } from "../stats.js";

type Ort = typeof import("onnxruntime-node");
type Session = Awaited<ReturnType<Ort["InferenceSession"]["create"]>>;
type Level = "all" | "extended";

const TUNING_RUNS = 5;
const TUNING_BUDGET_MS = 1000;

async function openSession(ort: Ort, spec: RunSpec, level: Level): Promise<Session> {
  return ort.InferenceSession.create(spec.model, {
    executionProviders: ["cpu"],
    intraOpNumThreads: spec.threads,
    interOpNumThreads: 1,
    executionMode: "sequential",
    graphOptimizationLevel: level,
    // Denormal activations make ORT's kernels several times slower on this
    // model (4x at batch 8 with "all" on an AVX-512 Xeon); flushing them is
    // ORT's own remedy and leaves the embeddings unchanged in practice.
    extra: { session: { set_denormal_as_zero: "1" } },
  });
}

// Median ms per run of `feed` after one untimed run: up to TUNING_RUNS
// runs or TUNING_BUDGET_MS, at least one.
async function timeRuns(session: Session, feed: Record<string, import("onnxruntime-node").Tensor>): Promise<number> {
  await session.run(feed);
  const times: number[] = [];
  const start = performance.now();
  while (times.length < TUNING_RUNS && (times.length === 0 || performance.now() - start < TUNING_BUDGET_MS)) {
    const t0 = performance.now();
    await session.run(feed);
    times.push(performance.now() - t0);
  }
  return median(times);
}

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

  let session: Session;
  let tuning: PeerTuning;
  if (spec.peerLevel !== "auto") {
    session = await openSession(ort, spec, spec.peerLevel);
    tuning = { graphOptimizationLevel: spec.peerLevel, msPerRun: null };
  } else {
    // Timed on one image (and its mirror with flip) to keep this cheap at
    // large batches; the choice is made again in every configuration.
    const one = new Float32Array(perImage * pixels.floatsPerImage);
    one.set(tensorOf(0, false));
    if (spec.flip) one.set(tensorOf(0, true), pixels.floatsPerImage);
    const feed = { [manifest.input]: new ort.Tensor("float32", one, [perImage, 3, manifest.height, manifest.width]) };
    const msPerRun: Record<string, number> = {};
    let best: { level: Level; session: Session } | null = null;
    for (const level of ["all", "extended"] as const) {
      const candidate = await openSession(ort, spec, level);
      msPerRun[level] = await timeRuns(candidate, feed);
      if (best === null || msPerRun[level] < msPerRun[best.level]) {
        await best?.session.release();
        best = { level, session: candidate };
      } else {
        await candidate.release();
      }
    }
    session = best!.session;
    tuning = { graphOptimizationLevel: best!.level, msPerRun };
  }
  return {
    backend: "cpu",
    fallbackReason: null,
    peerTuning: tuning,
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
