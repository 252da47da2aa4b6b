// The serving path: concurrent calls coalesced into shared batches with the
// same bits as a lone call, how a burst of calls forms batches, validation
// before batching, backpressure, cancellation, disposal and exit with work
// pending, and memory over a short soak. Throughput and event-loop delay
// depend on what else the machine runs, so they are measured and recorded
// by `npm run bench:serving` (bench/results/serving-throughput.md), not
// asserted here.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import v8 from "node:v8";
import vm from "node:vm";
import { Worker } from "node:worker_threads";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, MfnError, createEmbedder } from "../src/index.js";
import { type NativeEngine, nativeBinding, packageRoot } from "../src/native.js";
import { codeOf } from "./helpers/errors.js";
import { hasLfw, imageSpread, landmarksOf, readImage } from "./helpers/lfw.js";
import { type TestImage, noiseImage, toBgr } from "./helpers/tensors.js";

const gypBuild = createRequire(import.meta.url).resolve("node-gyp-build");

function bitsOf(values: Float32Array): Uint32Array {
  return new Uint32Array(values.buffer, values.byteOffset, values.length);
}

function expectSameBits(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.compare(Buffer.from(bitsOf(actual).buffer, actual.byteOffset, actual.byteLength),
                        Buffer.from(bitsOf(expected).buffer, expected.byteOffset, expected.byteLength))).toBe(0);
}

/** Five plausible landmarks inside a w x h image (eyes, nose, mouth corners). */
function fivePoints(w: number, h: number): [number, number][] {
  return [[0.35 * w, 0.4 * h], [0.65 * w, 0.4 * h], [0.5 * w, 0.55 * h], [0.38 * w, 0.72 * h], [0.62 * w, 0.72 * h]];
}

async function nativeEngine(options: { maxDelayUs?: number; maxQueue?: number; maxBatch?: number } = {}):
    Promise<NativeEngine> {
  return nativeBinding().createEngine({
    modelPath: `${packageRoot}/models/mobilefacenet.onnx`, manifestPath: "", backend: "cpu", threads: 0, device: 0,
    maxBatch: options.maxBatch ?? 256,
    ...(options.maxDelayUs === undefined ? {} : { maxDelayUs: options.maxDelayUs }),
    ...(options.maxQueue === undefined ? {} : { maxQueue: options.maxQueue }),
  });
}

function nativeImage(image: TestImage) {
  return { data: image.data, width: image.width, height: image.height, channels: image.channels,
           order: image.order ?? "rgb" } as const;
}

/** Runs a script in a fresh node process; it loads the addon from the package root. */
function runChild(source: string, timeout = 120_000) {
  const prelude = `
    const { createRequire } = await import("node:module");
    const require = createRequire(${JSON.stringify(gypBuild)});
    const binding = require(${JSON.stringify(gypBuild)})(${JSON.stringify(packageRoot)});
    const image = (seed) => {
      const data = new Uint8Array(112 * 112 * 3);
      let a = seed;
      for (let i = 0; i < data.length; i++) { a = (a * 1103515245 + 12345) >>> 0; data[i] = a >>> 24; }
      return { data, width: 112, height: 112, channels: 3, order: "rgb" };
    };
    const createEngine = (extra = {}) => binding.createEngine({
      modelPath: ${JSON.stringify(`${packageRoot}/models/mobilefacenet.onnx`)}, manifestPath: "", backend: "cpu",
      threads: 1, device: 0, maxBatch: 16, ...extra });
  `;
  return spawnSync(process.execPath, ["--input-type=module", "-e", prelude + source],
                   { encoding: "utf8", timeout });
}

describe("dynamic batching", () => {
  let mfn: Embedder;

  beforeAll(async () => {
    mfn = await createEmbedder({ backend: "cpu" });
  });

  afterAll(async () => {
    await mfn?.dispose();
  });

  // Raw inputs of every kind the engine takes, plus real faces when LFW is here.
  const inputs: { image: TestImage | Buffer; landmarks?: [number, number][] }[] = [
    ...Array.from({ length: 24 }, (_, i) => ({ image: noiseImage(112, 112, 3, 100 + i) })),
    ...Array.from({ length: 8 }, (_, i) => ({ image: noiseImage(150 + i, 130, 4, 200 + i) })),
    ...Array.from({ length: 8 }, (_, i) => ({ image: toBgr(noiseImage(96, 120, 3, 300 + i)) })),
    ...Array.from({ length: 8 }, (_, i) => ({ image: noiseImage(200, 220, 3, 400 + i), landmarks: fivePoints(200, 220) })),
    ...(hasLfw ? imageSpread(8).map((path) => ({ image: readImage(path), landmarks: landmarksOf(path) as [number, number][] })) : []),
  ];

  for (const flip of [false, true]) {
    it(`gives concurrent calls the bits of one embedBatch and of lone calls (flip ${flip ? "on" : "off"})`, async () => {
      const expected = await mfn.embedBatch(inputs, { flip });
      // Lone calls, one at a time: nothing to share a batch with.
      for (const i of [0, 30, inputs.length - 1]) {
        const { image, landmarks } = inputs[i]!;
        expectSameBits(await mfn.embed(image, { flip, ...(landmarks ? { landmarks } : {}) }), expected[i]!);
      }
      // Everything at once, in calls of different shapes, so that batches mix them.
      const singles = inputs.map(({ image, landmarks }) => mfn.embed(image, { flip, ...(landmarks ? { landmarks } : {}) }));
      const triples = [0, 9, 33].map((start) => mfn.embedBatch(inputs.slice(start, start + 3), { flip }));
      const verdict = mfn.verify(inputs[1]!.image, inputs[2]!.image, { flip });
      const results = await Promise.all(singles);
      results.forEach((embedding, i) => expectSameBits(embedding, expected[i]!));
      const [a, b, c] = await Promise.all(triples);
      [a!, b!, c!].forEach((rows, k) => rows.forEach((row, j) => expectSameBits(row, expected[[0, 9, 33][k]! + j]!)));
      let dot = 0;
      for (let k = 0; k < 512; k++) dot += expected[1]![k]! * expected[2]![k]!;
      expect((await verdict).similarity).toBeCloseTo(dot, 6);
    });
  }

  it("splits a call larger than maxBatch across batches, rows in order", async () => {
    const small = await createEmbedder({ backend: "cpu", maxBatch: 5 });
    try {
      const batch = inputs.slice(0, 23);
      const [split, whole] = await Promise.all([small.embedBatch(batch), mfn.embedBatch(batch)]);
      split.forEach((row, i) => expectSameBits(row, whole[i]!));
    } finally {
      await small.dispose();
    }
  });

  it("batches in worker threads and the main thread at the same time, same bits", async () => {
    const images = Array.from({ length: 24 }, (_, i) => nativeImage(noiseImage(112, 112, 3, 500 + i)));
    const expected = await mfn.embedBatch(images, { flip: false });
    const source = `
      const { parentPort, workerData } = require("node:worker_threads");
      const binding = require(workerData.gyp)(workerData.root);
      (async () => {
        const engine = await binding.createEngine({ modelPath: workerData.root + "/models/mobilefacenet.onnx",
          manifestPath: "", backend: "cpu", threads: 1, device: 0, maxBatch: 256 });
        const outs = workerData.images.map(() => new Float32Array(512));
        await Promise.all(workerData.images.map((image, i) => engine.embed([image], false, outs[i])));
        const stats = engine.batchStats();
        await engine.dispose();
        parentPort.postMessage({ outs, batches: stats.batches });
      })();
    `;
    const inWorker = () => new Promise<{ outs: Float32Array[]; batches: number }>((resolve, reject) => {
      const worker = new Worker(source, { eval: true, workerData: { gyp: gypBuild, root: packageRoot, images } });
      worker.once("message", resolve);
      worker.once("error", reject);
    });
    const [w1, w2, here] = await Promise.all([
      inWorker(), inWorker(), Promise.all(images.map((image) => mfn.embed(image, { flip: false }))),
    ]);
    for (const result of [w1.outs, w2.outs, here]) result.forEach((row, i) => expectSameBits(row, expected[i]!));
    expect(w1.batches).toBeLessThan(images.length);
  });

  it("fails a bad image alone: the calls batched around it succeed", async () => {
    const good = Array.from({ length: 12 }, (_, i) => noiseImage(112, 112, 3, 600 + i));
    const expected = await mfn.embedBatch(good);
    const collapsed: [number, number][] = Array.from({ length: 5 }, () => [50, 50]);
    const calls = good.map((image) => mfn.embed(image));
    const bad = [
      mfn.embed(good[0]!, { landmarks: collapsed }),
      mfn.embed({ ...good[1]!, width: 113 }),
      mfn.embedBatch([good[2]!, { image: good[3]!, landmarks: collapsed }]),
    ];
    expect(await codeOf(bad[0]!)).toBe("MFN_INVALID_LANDMARKS");
    expect(await codeOf(bad[1]!)).toBe("MFN_INVALID_DIMENSIONS");
    expect(await codeOf(bad[2]!)).toBe("MFN_INVALID_LANDMARKS");
    (await Promise.all(calls)).forEach((row, i) => expectSameBits(row, expected[i]!));
  });
});

describe("backpressure and cancellation", () => {
  it("rejects at once with MFN_QUEUE_FULL beyond maxQueue images, and runs what it accepted", async () => {
    // A long maxDelayUs keeps the accepted calls waiting for company.
    const mfn = await createEmbedder({ backend: "cpu", flip: false, maxQueue: 8, maxDelayUs: 1_000_000 });
    try {
      const image = noiseImage(112, 112, 3, 7);
      const started = performance.now();
      const calls = Array.from({ length: 40 }, () => mfn.embed(image).then(() => "ok", (e: MfnError) => e.code));
      const settledAt: number[] = [];
      calls.forEach((call) => void call.then(() => settledAt.push(performance.now() - started)));
      const tooBig = mfn.embedBatch([image, image]);
      expect(await codeOf(tooBig)).toBe("MFN_QUEUE_FULL");
      const outcomes = await Promise.all(calls);
      expect(outcomes.filter((o) => o === "ok").length).toBe(8);
      expect(outcomes.filter((o) => o === "MFN_QUEUE_FULL").length).toBe(32);
      // The refusals came at once, long before the accepted calls ran.
      const sorted = [...settledAt].sort((a, b) => a - b);
      expect(sorted[31]!).toBeLessThan(500);
      expect(sorted[32]!).toBeGreaterThan(sorted[31]!);
      // An empty queue admits a call of any size.
      expect((await mfn.embedBatch(Array.from({ length: 20 }, () => image))).length).toBe(20);
    } finally {
      await mfn.dispose();
    }
  });

  it("an aborted signal rejects with MFN_ABORTED and its images are never run", async () => {
    const engine = await nativeEngine({ maxDelayUs: 500_000 });
    try {
      const { CancelToken } = nativeBinding();
      const image = nativeImage(noiseImage(112, 112, 3, 8));
      const token = new CancelToken();
      const cancelled = engine.embed([image, image, image], false, new Float32Array(3 * 512), token);
      const kept = engine.embed([image], false, new Float32Array(512));
      token.cancel();
      expect(token.cancelled).toBe(true);
      expect(await codeOf(cancelled.catch((e: Error) => { throw new MfnError((e as MfnError).code, e.message); })))
        .toBe("MFN_ABORTED");
      await kept;
      const stats = engine.batchStats();
      expect(stats.images).toBe(1);
      expect(stats.requests).toBe(2);
      expect(() => engine.embed([image], false, new Float32Array(512), {} as never))
        .toThrow(expect.objectContaining({ code: "MFN_INVALID_ARGUMENT" }));
    } finally {
      await engine.dispose();
    }
  });

  it("signal: embed, embedBatch and verify reject promptly while queued; later calls are unaffected", async () => {
    const mfn = await createEmbedder({ backend: "cpu", maxDelayUs: 2_000_000 });
    try {
      const image = noiseImage(112, 112, 3, 9);
      const controller = new AbortController();
      const started = performance.now();
      const calls = [
        mfn.embed(image, { signal: controller.signal }),
        mfn.embedBatch([image, image], { signal: controller.signal }),
        mfn.verify(image, image, { signal: controller.signal }),
      ];
      setTimeout(() => controller.abort(new Error("client went away")), 50);
      for (const call of calls) expect(await codeOf(call)).toBe("MFN_ABORTED");
      expect(performance.now() - started).toBeLessThan(1_000);
      // Aborting after the result came back changes nothing.
      const late = new AbortController();
      const after = await Promise.all([mfn.embed(image, { signal: late.signal }), mfn.embedBatch([image])]);
      late.abort();
      expectSameBits(after[0], after[1][0]!);
    } finally {
      await mfn.dispose();
    }
  });
});

describe("lifecycle", () => {
  it("dispose(): the running batch finishes, queued calls reject with MFN_DISPOSED", async () => {
    const mfn = await createEmbedder({ backend: "cpu", flip: false, maxBatch: 4, maxDelayUs: 1_000_000, maxQueue: 64 });
    const image = noiseImage(112, 112, 3, 10);
    const calls = Array.from({ length: 48 }, () => mfn.embed(image));
    // The first batch has run (and the worker has gone on to the next full
    // one) before dispose() cuts the queue short.
    const first = await calls[0]!;
    const disposed = mfn.dispose();
    expect(await codeOf(mfn.embed(image))).toBe("MFN_DISPOSED");
    const settled = await Promise.allSettled(calls);
    await disposed;

    const resolved = settled.flatMap((r) => (r.status === "fulfilled" ? [r.value] : []));
    const rejected = settled.flatMap((r) => (r.status === "rejected" ? [r.reason as unknown] : []));
    // First come, first served: the calls that ran are a prefix, in whole batches.
    expect(settled.slice(0, resolved.length).every((r) => r.status === "fulfilled")).toBe(true);
    expect(resolved.length).toBeGreaterThanOrEqual(4);
    expect(resolved.length % 4).toBe(0);
    expect(rejected.length).toBeGreaterThan(0);
    expect(Math.hypot(...first)).toBeCloseTo(1, 5);
    for (const row of resolved) {
      expect(row.length).toBe(512);
      expectSameBits(row, first);
    }
    for (const error of rejected) {
      expect(error).toBeInstanceOf(MfnError);
      expect((error as MfnError).code).toBe("MFN_DISPOSED");
    }
    expect(await codeOf(mfn.embed(image))).toBe("MFN_DISPOSED");
    expect(await codeOf(mfn.embedBatch([image]))).toBe("MFN_DISPOSED");
    expect(await codeOf(mfn.verify(image, image))).toBe("MFN_DISPOSED");
    expect(await codeOf(mfn.preprocess(image))).toBe("MFN_DISPOSED");
    expect(() => mfn.lastTimings()).toThrow(expect.objectContaining({ code: "MFN_DISPOSED" }));
    await mfn.dispose(); // idempotent
  });

  it("native dispose() does not wait: queued calls reject with MFN_DISPOSED, new ones throw", async () => {
    const engine = await nativeEngine({ maxDelayUs: 100_000 });
    const image = nativeImage(noiseImage(112, 112, 3, 11));
    const out = new Float32Array(512);
    // Waits up to 100 ms for company: still queued when dispose() runs.
    const queued = engine.embed([image], false, out);
    const disposed = engine.dispose();
    expect(engine.disposed).toBe(true);
    expect(engine.dispose()).toBe(disposed);
    expect(() => engine.embed([image], false, out)).toThrow(expect.objectContaining({ code: "MFN_DISPOSED" }));
    await expect(queued).rejects.toMatchObject({ code: "MFN_DISPOSED" });
    await disposed;
    expect(out.every((x) => x === 0)).toBe(true);  // never run
  });

  it("keeps the process alive while a call is pending, and no longer", () => {
    const child = runChild(`
      const engine = await createEngine({ maxDelayUs: 200000 });
      const out = new Float32Array(512);
      engine.embed([image(1)], true, out).then(() => console.log(JSON.stringify({ norm: Math.hypot(...out) })));
    `);
    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout).norm).toBeCloseTo(1, 5);
  });

  it("exits cleanly when process.exit() leaves hundreds of calls queued", () => {
    const started = Date.now();
    const child = runChild(`
      const engine = await createEngine({ maxQueue: 1000 });
      for (let i = 0; i < 300; i++) engine.embed([image(i)], true, new Float32Array(512));
      setTimeout(() => process.exit(0), 20);
    `);
    expect(child.signal).toBeNull();
    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it("survives a worker thread terminated with calls queued and in flight", () => {
    const child = runChild(`
      const { Worker } = await import("node:worker_threads");
      const source = \`
        const { parentPort, workerData } = require("node:worker_threads");
        const binding = require(workerData.gyp)(workerData.root);
        (async () => {
          const engine = await binding.createEngine({ modelPath: workerData.root + "/models/mobilefacenet.onnx",
            manifestPath: "", backend: "cpu", threads: 1, device: 0, maxBatch: 16, maxQueue: 1000 });
          const data = new Uint8Array(112 * 112 * 3).fill(90);
          for (let i = 0; i < 200; i++) engine.embed([{ data, width: 112, height: 112, channels: 3, order: "rgb" }], true, new Float32Array(512));
          parentPort.postMessage("queued");
        })();
      \`;
      const workers = [0, 1, 2].map(() => new Worker(source, { eval: true, execArgv: [],
        workerData: { gyp: ${JSON.stringify(gypBuild)}, root: ${JSON.stringify(packageRoot)} } }));
      await Promise.all(workers.map((w) => new Promise((resolve) => w.once("message", resolve))));
      const codes = await Promise.all(workers.map((w) => w.terminate()));
      const engine = await createEngine();
      const out = new Float32Array(512);
      await engine.embed([image(3)], true, out);
      await engine.dispose();
      console.log(JSON.stringify({ codes, norm: Math.hypot(...out) }));
    `);
    expect(child.signal).toBeNull();
    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout).norm).toBeCloseTo(1, 5);
  });

  it("creates and disposes engines repeatedly without leaking threads", () => {
    const child = runChild(`
      const { readdirSync } = await import("node:fs");
      const threads = () => readdirSync("/proc/self/task").length;
      const warm = await createEngine();
      await warm.embed([image(1)], false, new Float32Array(512));
      await warm.dispose();
      await new Promise((r) => setTimeout(r, 100));
      const before = threads();
      for (let i = 0; i < 20; i++) {
        const engine = await createEngine();
        await Promise.all([1, 2, 3].map((s) => engine.embed([image(s)], false, new Float32Array(512))));
        await engine.dispose();
      }
      await new Promise((r) => setTimeout(r, 100));
      console.log(JSON.stringify({ before, after: threads() }));
    `);
    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
    const { before, after } = JSON.parse(child.stdout) as { before: number; after: number };
    expect(after).toBe(before);
  });
});

describe("batch formation", () => {
  // A delay far longer than submitting the burst takes, however loaded the
  // machine: batches then start only when full, so their number and sizes
  // are exact.
  const burst = Array.from({ length: 256 }, (_, i) => nativeImage(noiseImage(112, 112, 3, 2000 + i)));

  for (const maxBatch of [256, 64, 100]) {
    it(`256 concurrent embed() calls form ${Math.ceil(256 / maxBatch)} batch(es) of up to ${maxBatch}`, async () => {
      const engine = await nativeEngine({ maxBatch, maxDelayUs: 10_000_000, maxQueue: 1024 });
      try {
        const calls = burst.map((image) => engine.embed([image], false, new Float32Array(512)));
        // The last, partial batch (256 % 100) waits for company: flush it with the delay's end.
        if (256 % maxBatch !== 0) {
          const filler = Array.from({ length: maxBatch - (256 % maxBatch) }, () => burst[0]!);
          calls.push(engine.embed(filler, false, new Float32Array(filler.length * 512)));
        }
        await Promise.all(calls);
        const stats = engine.batchStats();
        expect(stats.batches).toBe(Math.ceil(256 / maxBatch));
        expect(stats.largestBatch).toBe(maxBatch);
        expect(stats.images).toBe(stats.batches * maxBatch); // every batch full
        expect(stats.requests).toBe(calls.length);
        expect(stats.rejected).toBe(0);
      } finally {
        await engine.dispose();
      }
    });
  }
});

describe("memory (CPU backend)", () => {
  let mfn: Embedder;
  const images = Array.from({ length: 256 }, (_, i) => noiseImage(112, 112, 3, 1000 + i));

  beforeAll(async () => {
    mfn = await createEmbedder({ backend: "cpu", flip: false, maxDelayUs: 2000 });
    await Promise.all(images.map((image) => mfn.embed(image)));
  });

  afterAll(async () => {
    await mfn?.dispose();
  });

  it("a short soak (5,000 embeds) does not grow RSS after warm-up", async () => {
    // RSS is compared after full collections: between them it swings with
    // V8's heap sizing alone (see bench/serving/soak.mjs).
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc") as () => void;
    const rssAfterGc = () => {
      gc();
      return process.memoryUsage().rss / 2 ** 20;
    };
    const run = async (total: number) => {
      let next = 0;
      const client = async () => {
        while (next < total) await mfn.embed(images[next++ % images.length]!);
      };
      await Promise.all(Array.from({ length: 64 }, client));
    };
    await run(1_000);
    const before = rssAfterGc();
    const samples: number[] = [];
    for (let chunk = 0; chunk < 5; chunk++) {
      await run(1_000);
      samples.push(rssAfterGc() - before);
    }
    console.log(`short soak: RSS ${before.toFixed(1)} MiB after warm-up, then ` +
                `${samples.map((g) => `${g >= 0 ? "+" : ""}${g.toFixed(1)}`).join(" ")} MiB per 1,000 embeds`);
    expect(samples.at(-1)!).toBeLessThan(10);
  });
});
