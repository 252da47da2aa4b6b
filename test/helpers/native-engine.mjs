// Runs the addon directly (no TypeScript) in a worker_thread or a child
// process, for the lifecycle suite. Modes:
//   worker: embed one image, post the embedding back, dispose unless keepOpen
//   exit-midway: start an embed and call process.exit() while it runs
//   no-dispose: embed and let the event loop end with the engine still open
import { createRequire } from "node:module";
import { isMainThread, parentPort, workerData } from "node:worker_threads";

const args = isMainThread ? { root: process.argv[2], mode: process.argv[3] } : workerData;
const require = createRequire(import.meta.url);
const binding = require("node-gyp-build")(args.root);

const engine = await binding.createEngine({
  modelPath: `${args.root}/models/mobilefacenet.onnx`,
  manifestPath: "",
  backend: "cpu",
  threads: 1,
  device: 0,
  maxBatch: 8,
});

function image(seed) {
  const data = new Uint8Array(112 * 112 * 3);
  let a = seed;
  for (let i = 0; i < data.length; i++) {
    a = (a * 1103515245 + 12345) >>> 0;
    data[i] = a >>> 24;
  }
  return { data, width: 112, height: 112, channels: 3, order: "rgb" };
}

const out = new Float32Array(engine.dimensions);
if (args.mode === "worker") {
  await engine.embed([image(args.seed)], true, out);
  parentPort.postMessage(out);
  if (!args.keepOpen) await engine.dispose();
  else engine.embed([image(args.seed), image(args.seed + 1)], true, new Float32Array(2 * engine.dimensions));
} else if (args.mode === "exit-midway") {
  engine.embed(Array.from({ length: 8 }, (_, i) => image(i)), true, new Float32Array(8 * engine.dimensions));
  setImmediate(() => process.exit(0));
} else if (args.mode === "no-dispose") {
  await engine.embed([image(1)], true, out);
  console.log(JSON.stringify({ norm: Math.hypot(...out) }));
}
