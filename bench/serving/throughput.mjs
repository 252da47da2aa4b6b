#!/usr/bin/env node
// The serving bar: N concurrent single-image embed() calls against one
// embedBatch() of the same N images, in the same process, interleaved
// (alternating which goes first), medians over the repetitions; and the
// event-loop delay (perf_hooks.monitorEventLoopDelay, 1 ms resolution)
// while the concurrent calls run.
//
//   node bench/serving/throughput.mjs [--images 256] [--reps 7] [--flip off]
//        [--maxDelayUs <default>] [--threads 0] [--json bench/results/serving-throughput.json]
import { monitorEventLoopDelay } from "node:perf_hooks";

import { createEmbedder } from "../../dist/index.js";
import { median, noiseImage, parseFlags, provenance, writeResult } from "./common.mjs";

const flags = parseFlags({ images: 256, reps: 7, flip: "off", maxDelayUs: -1, threads: 0, json: "" });
const flip = flags.flip === "on";
const mfn = await createEmbedder({
  backend: "cpu",
  flip,
  threads: flags.threads,
  maxBatch: Math.max(flags.images, 1),
  ...(flags.maxDelayUs >= 0 ? { maxDelayUs: flags.maxDelayUs } : {}),
});
const images = Array.from({ length: flags.images }, (_, i) => noiseImage(i + 1));

async function timeBatch() {
  const t = performance.now();
  await mfn.embedBatch(images);
  return (performance.now() - t) / 1000;
}

async function timeConcurrent() {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const t = performance.now();
  await Promise.all(images.map((image) => mfn.embed(image)));
  const seconds = (performance.now() - t) / 1000;
  delay.disable();
  return { seconds, eldP99Ms: delay.percentile(99) / 1e6, eldMaxMs: delay.max / 1e6, samples: delay.count };
}

// Warm-up: both paths once (allocations, thread pool, caches).
await timeBatch();
await timeConcurrent();

const batch = [];
const concurrent = [];
for (let r = 0; r < flags.reps; r++) {
  if (r % 2 === 0) {
    batch.push(await timeBatch());
    concurrent.push(await timeConcurrent());
  } else {
    concurrent.push(await timeConcurrent());
    batch.push(await timeBatch());
  }
}
await mfn.dispose();

const batchRate = flags.images / median(batch);
const concurrentRate = flags.images / median(concurrent.map((c) => c.seconds));
const record = {
  tool: "bench/serving/throughput.mjs",
  ...provenance(),
  settings: { images: flags.images, reps: flags.reps, flip, threads: flags.threads,
              maxDelayUs: flags.maxDelayUs >= 0 ? flags.maxDelayUs : "default", inputs: "112x112 raw RGB" },
  embedBatch: { imagesPerSecond: batchRate, secondsPerRep: batch },
  concurrentEmbed: {
    imagesPerSecond: concurrentRate,
    secondsPerRep: concurrent.map((c) => c.seconds),
    eventLoopDelayP99MsPerRep: concurrent.map((c) => c.eldP99Ms),
    eventLoopDelayMaxMsPerRep: concurrent.map((c) => c.eldMaxMs),
  },
  ratio: concurrentRate / batchRate,
  // Each repetition's pair on its own: steadier when the machine's load drifts during the run.
  ratioPairedMedian: median(batch.map((b, r) => b / concurrent[r].seconds)),
  eventLoopDelayP99MsMedian: median(concurrent.map((c) => c.eldP99Ms)),
  eventLoopDelayP99MsWorst: Math.max(...concurrent.map((c) => c.eldP99Ms)),
};

console.log(`embedBatch(${flags.images}):          ${batchRate.toFixed(1)} images/s (median of ${flags.reps})`);
console.log(`${flags.images} concurrent embed():   ${concurrentRate.toFixed(1)} images/s`);
console.log(`ratio:                      ${record.ratio.toFixed(3)} (bar >= 0.90); ` +
            `median of the per-repetition ratios ${record.ratioPairedMedian.toFixed(3)}`);
console.log(`event-loop delay p99:       median ${record.eventLoopDelayP99MsMedian.toFixed(2)} ms, ` +
            `worst ${record.eventLoopDelayP99MsWorst.toFixed(2)} ms (bar < 5 ms)`);
if (flags.json) console.log(`wrote ${writeResult(flags.json, record)}`);
