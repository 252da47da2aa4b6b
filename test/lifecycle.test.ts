// The addon in several environments at once (worker_threads, per-environment
// instance data) and at shutdown (cleanup hook, exit with work in flight).
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, createEmbedder } from "../src/index.js";
import { packageRoot } from "../src/native.js";

const script = fileURLToPath(new URL("./helpers/native-engine.mjs", import.meta.url));

function runWorker(seed: number, keepOpen: boolean): Promise<{ embedding: Float32Array; exitCode: number }> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(script, { workerData: { root: packageRoot, mode: "worker", seed, keepOpen } });
    let embedding: Float32Array | undefined;
    worker.on("message", (message: Float32Array) => {
      embedding = message;
      // An engine left open, with an embed in flight: the environment's cleanup hook has to cope.
      if (keepOpen) void worker.terminate();
    });
    worker.on("error", reject);
    worker.on("exit", (exitCode) => {
      if (embedding === undefined) reject(new Error(`worker exited with ${exitCode} before answering`));
      else resolve({ embedding, exitCode });
    });
  });
}

function seededImage(seed: number) {
  const data = new Uint8Array(112 * 112 * 3);
  let a = seed;
  for (let i = 0; i < data.length; i++) {
    a = (a * 1103515245 + 12345) >>> 0;
    data[i] = a >>> 24;
  }
  return { data, width: 112, height: 112, channels: 3 as const };
}

describe("lifecycle", () => {
  let mfn: Embedder;

  beforeAll(async () => {
    mfn = await createEmbedder({ backend: "cpu" });
  });

  afterAll(async () => {
    await mfn?.dispose();
  });

  it("loads in several worker_threads at once, each with its own engine", async () => {
    const seeds = [11, 12, 13, 14, 15];
    const results = await Promise.all(seeds.map((seed, i) => runWorker(seed, i >= 2)));
    for (const [i, seed] of seeds.entries()) {
      const expected = await mfn.embed(seededImage(seed));
      const { embedding } = results[i]!;
      expect(embedding.length).toBe(512);
      let diff = 0;
      for (let k = 0; k < 512; k++) diff = Math.max(diff, Math.abs(embedding[k]! - expected[k]!));
      expect(diff).toBeLessThanOrEqual(1e-6);
    }
    expect(results[0]!.exitCode).toBe(0);
    expect(results[1]!.exitCode).toBe(0);
    // The main thread's engine is untouched by the workers' teardown.
    expect((await mfn.embed(seededImage(1))).length).toBe(512);
  });

  it("exits cleanly when process.exit() interrupts an embed", () => {
    const child = spawnSync(process.execPath, [script, packageRoot, "exit-midway"], { encoding: "utf8", timeout: 120_000 });
    expect(child.signal).toBeNull();
    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
  });

  it("does not keep the process alive when an engine is never disposed", () => {
    const child = spawnSync(process.execPath, [script, packageRoot, "no-dispose"], { encoding: "utf8", timeout: 120_000 });
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout).norm).toBeCloseTo(1, 5);
  });
});
