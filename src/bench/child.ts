// One configuration in its own process: the parent (runner.ts) forks this
// script, sends a RunSpec over IPC, and gets progress messages and one
// result (or error) back. Runs on the child's only JavaScript thread; the
// engine's (or onnxruntime's) threads do the work behind the promises.
import { loadavg } from "node:os";
import { relative } from "node:path";
import { performance } from "node:perf_hooks";
import { loadPixels, type LoadedPixels } from "./pixels.js";
import { createOrtDriver } from "./peers/ort.js";
import type { Budget } from "./options.js";
import type { ChildMessage, Driver, NativeStages, RunResult, RunSpec, StageMedians } from "./protocol.js";
import { median, summarize } from "./stats.js";

const PROGRESS_INTERVAL_MS = 250;

function send(message: ChildMessage): void {
  process.send?.(message);
}

async function createMfnDriver(spec: RunSpec, pixels: LoadedPixels): Promise<Driver> {
  // Imported here so that the peer's process never loads mfn.
  const { createEmbedder } = await import("../index.js");
  const embedder = await createEmbedder({
    backend: spec.backend,
    flip: spec.flip,
    threads: spec.threads,
    model: spec.model,
    ...(spec.maxDelayUs === null ? {} : { maxDelayUs: spec.maxDelayUs }),
  });
  // Which mfn.node was measured (prebuilt or local build): already loaded
  // by createEmbedder, this only reads where from.
  const { nativeBinding, packageRoot } = await import("../native.js");
  const addonDir = relative(packageRoot, nativeBinding().pluginDir) || ".";
  const images = pixels.images;
  const batchInputs = Array.from({ length: spec.batch }, (_, i) => images[i % images.length]);
  const dims = embedder.dimensions;
  let next = 0;
  // Every result is checked once (shape, finite, unit length): a benchmark
  // of a broken engine must fail, not report a speed.
  let checked = false;
  const check = (rows: Float32Array[]) => {
    if (checked) return;
    checked = true;
    for (const row of rows) {
      let norm = 0;
      for (const v of row) norm += v * v;
      if (row.length !== dims || !(Math.abs(Math.sqrt(norm) - 1) < 1e-3)) {
        throw new Error(`mfn returned a bad embedding (length ${row.length}, norm ${Math.sqrt(norm)})`);
      }
    }
  };
  return {
    backend: embedder.backend,
    fallbackReason: embedder.fallbackReason ?? null,
    addonDir,
    async call(slot) {
      if (spec.batch === 1) {
        check([await embedder.embed(images[(slot + next++) % images.length], { flip: spec.flip })]);
      } else {
        check(await embedder.embedBatch(batchInputs, { flip: spec.flip }));
      }
    },
    stages() {
      const t = embedder.lastTimings();
      return { preprocess: t.preprocessMs, hostToDevice: t.hostToDeviceMs, compute: t.computeMs, deviceToHost: t.deviceToHostMs };
    },
    dispose: () => embedder.dispose(),
  };
}

interface PhaseSamples {
  calls: number;
  seconds: number;
  cores: number;  // CPU time of this process (all its threads) / wall time
  latencies: number[];
  stages: NativeStages[];
}

// Keeps `concurrency` calls in flight until the budget is spent: a call
// starts only while time (or calls) remain, so the phase ends when the last
// started call resolves.
async function runPhase(driver: Driver, concurrency: number, budget: Budget, record: boolean, progress: (f: number) => void): Promise<PhaseSamples> {
  const out: PhaseSamples = { calls: 0, seconds: 0, cores: 0, latencies: [], stages: [] };
  const cpuStart = process.cpuUsage();
  const start = performance.now();
  const deadline = start + (budget.unit === "seconds" ? budget.value * 1000 : 0);
  const more = () => (budget.unit === "calls" ? out.calls < budget.value : performance.now() < deadline);
  let lastProgress = start;
  const worker = async (slot: number) => {
    while (more()) {
      out.calls++;
      const t0 = performance.now();
      await driver.call(slot);
      const t1 = performance.now();
      if (record) {
        out.latencies.push(t1 - t0);
        const s = driver.stages();
        if (s !== null) out.stages.push(s);
      }
      if (t1 - lastProgress >= PROGRESS_INTERVAL_MS) {
        lastProgress = t1;
        progress(budget.unit === "calls" ? out.calls / budget.value : (t1 - start) / (budget.value * 1000));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, slot) => worker(slot)));
  out.seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  out.cores = (cpu.user + cpu.system) / 1e6 / out.seconds;
  return out;
}

class LoadError extends Error {}

async function run(spec: RunSpec): Promise<RunResult> {
  send({ type: "progress", phase: "load", fraction: 0 });
  const pixels = loadPixels(spec.pixels);
  const t0 = performance.now();
  let driver: Driver;
  try {
    driver = spec.engine === "mfn" ? await createMfnDriver(spec, pixels) : await createOrtDriver(spec, pixels);
  } catch (err) {
    throw new LoadError(err instanceof Error ? err.message : String(err));
  }
  const loadMs = performance.now() - t0;
  try {
    const warm = await runPhase(driver, spec.concurrency, spec.warmup, false, (f) => send({ type: "progress", phase: "warmup", fraction: Math.min(1, f) }));
    const timed = await runPhase(driver, spec.concurrency, spec.measure, true, (f) => send({ type: "progress", phase: "measure", fraction: Math.min(1, f) }));
    const images = timed.calls * spec.batch;
    const imagesPerSec = images / timed.seconds;
    let stagesMs: StageMedians | null = null;
    if (timed.stages.length === timed.latencies.length && timed.stages.length > 0) {
      const pick = (key: keyof NativeStages) => median(timed.stages.map((s) => s[key]));
      stagesMs = {
        preprocess: pick("preprocess"),
        hostToDevice: pick("hostToDevice"),
        compute: pick("compute"),
        deviceToHost: pick("deviceToHost"),
        jsRoundTrip: median(timed.latencies.map((l, i) => {
          const s = timed.stages[i];
          return l - (s.preprocess + s.hostToDevice + s.compute + s.deviceToHost);
        })),
      };
    }
    return {
      engine: spec.engine,
      requestedBackend: spec.backend,
      backend: driver.backend,
      fallbackReason: driver.fallbackReason,
      flip: spec.flip,
      batch: spec.batch,
      concurrency: spec.concurrency,
      threads: spec.threads,
      loadMs,
      warmup: { calls: warm.calls, seconds: warm.seconds },
      calls: timed.calls,
      images,
      seconds: timed.seconds,
      cpuCores: timed.cores,
      loadAverage: loadavg()[0],
      imagesPerSec,
      embeddingsPerSec: imagesPerSec,
      passesPerSec: imagesPerSec * (spec.flip ? 2 : 1),
      latencyMs: summarize(timed.latencies),
      stagesMs,
      rssMb: process.memoryUsage().rss / (1024 * 1024),
      peerTuning: driver.peerTuning ?? null,
      addonDir: driver.addonDir ?? null,
    };
  } finally {
    await driver.dispose();
  }
}

process.once("message", (spec: RunSpec) => {
  run(spec).then(
    (result) => send({ type: "result", result }),
    (err: unknown) => send({ type: "error", message: err instanceof Error ? err.message : String(err), during: err instanceof LoadError ? "load" : "run" }),
  ).finally(() => process.disconnect());
});
