// Worker teardown: terminating a worker_thread at any moment (while it loads
// the addon, creates an engine, or has embed() calls queued and running)
// must never take the process with it. Each scenario runs in a child
// process, which must exit cleanly after every worker was terminated.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

import { describe, expect, it } from "vitest";

import { packageRoot } from "../src/native.js";

const gypBuild = createRequire(import.meta.url).resolve("node-gyp-build");

// The worker loops for ever: load the addon, create an engine, queue calls,
// await them, dispose, start again. Whatever it is doing when terminate()
// arrives, the parent must survive.
const workerSource = `
  const { workerData } = require("node:worker_threads");
  const binding = require(workerData.gyp)(workerData.root);
  (async () => {
    for (;;) {
      const engine = await binding.createEngine({ modelPath: workerData.root + "/models/mobilefacenet.onnx",
        manifestPath: "", backend: "cpu", threads: 1, device: 0, maxBatch: 4, maxDelayUs: 0, maxQueue: 100000 });
      const data = new Uint8Array(112 * 112 * 3).fill(7);
      const image = { data, width: 112, height: 112, channels: 3, order: "rgb" };
      const calls = [];
      for (let i = 0; i < 20; i++) calls.push(engine.embed([image], true, new Float32Array(512)).catch(() => {}));
      await Promise.all(calls);
      engine.dispose();
    }
  })();
`;

/** Terminates `rounds` x 4 workers after delays spread over 0-60 ms, then embeds once on the main thread. */
function terminateWorkers(rounds: number) {
  const parent = `
    const { Worker } = await import("node:worker_threads");
    const workerData = { gyp: ${JSON.stringify(gypBuild)}, root: ${JSON.stringify(packageRoot)} };
    for (let r = 0; r < ${rounds}; r++) {
      const workers = Array.from({ length: 4 }, () => new Worker(${JSON.stringify(workerSource)}, { eval: true, execArgv: [], workerData }));
      await new Promise((resolve) => setTimeout(resolve, (r * 7) % 60));
      await Promise.all(workers.map((w) => w.terminate()));
    }
    const { createRequire } = await import("node:module");
    const binding = createRequire(workerData.gyp)(workerData.gyp)(workerData.root);
    const engine = await binding.createEngine({ modelPath: workerData.root + "/models/mobilefacenet.onnx",
      manifestPath: "", backend: "cpu", threads: 1, device: 0, maxBatch: 4 });
    const out = new Float32Array(512);
    await engine.embed([{ data: new Uint8Array(112 * 112 * 3).fill(9), width: 112, height: 112, channels: 3,
                          order: "rgb" }], true, out);
    await engine.dispose();
    console.log(JSON.stringify({ norm: Math.hypot(...out) }));
  `;
  return spawnSync(process.execPath, ["--input-type=module", "-e", parent], { encoding: "utf8", timeout: 240_000 });
}

describe("worker teardown", () => {
  it("survives workers terminated while loading the addon, creating engines and embedding", () => {
    // The window for each phase is a few milliseconds wide; three children
    // of 60 rounds each hit all of them (without the fix about two runs in
    // three aborted with std::terminate).
    for (let child = 0; child < 3; child++) {
      const result = terminateWorkers(60);
      expect(result.stderr).toBe("");
      expect(result.signal).toBeNull();
      expect(result.status).toBe(0);
      expect(JSON.parse(result.stdout).norm).toBeCloseTo(1, 5);
    }
  });
});
