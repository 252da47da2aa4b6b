#!/usr/bin/env node
// Soak: many single-image embed() calls from concurrent callers through one
// embedder; RSS is sampled as it goes and its growth after the warm-up is the
// figure (bar: < 30 MB over 100,000 embeds). CPU backend, 112x112 raw inputs.
// With --calls faces, detect() and embedFaces() calls in turn on 64 LFW
// photos (250x250 raw, from ../shared/data/lfw) instead: both queues of the
// face path, the detector's and the embeddings'.
//
// The warm-up (50,000 embeds by default) lasts until V8 has grown its young
// generation to its working size, which it keeps: with a 5,000-embed
// warm-up, that growth (about 30 MiB, up to ~40,000 embeds) lands inside the
// measurement, with live objects and native memory flat
// (bench/results/serving-soak.md shows both runs).
//
// Each call leaves a few kilobytes of garbage (its promise chain, its output
// Float32Array), so between collections RSS swings by tens of megabytes with
// V8's heap sizing alone. Each sample is therefore taken twice: as found, and
// after a full garbage collection; the growth of the second is the leak
// figure, the first is reported beside it.
//
//   node bench/serving/soak.mjs [--embeds 100000] [--warmup 50000] [--clients 64] [--flip off]
//        [--calls embed|faces] [--json bench/results/serving-soak.json]
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import v8 from "node:v8";
import vm from "node:vm";

import sharp from "sharp";

import { createEmbedder } from "../../dist/index.js";
import { closedLoop, noiseImage, parseFlags, provenance, writeResult } from "./common.mjs";

const flags = parseFlags({ embeds: 100_000, warmup: 50_000, clients: 64, flip: "off", every: 5_000, calls: "embed",
                           json: "" });
if (flags.calls !== "embed" && flags.calls !== "faces") throw new Error("--calls must be embed or faces");
const mfn = await createEmbedder({ backend: "cpu", flip: flags.flip === "on" });

// The first photo of each of the first 64 people.
async function lfwPhotos() {
  const dir = fileURLToPath(new URL("../../../shared/data/lfw/lfw-deepfunneled", import.meta.url));
  return Promise.all(readdirSync(dir).sort().slice(0, 64).map(async (person) => {
    const file = join(dir, person, readdirSync(join(dir, person)).sort()[0]);
    const { data, info } = await sharp(readFileSync(file)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: 3, order: "rgb" };
  }));
}
const images = flags.calls === "faces" ? await lfwPhotos() : Array.from({ length: 256 }, (_, i) => noiseImage(i + 1));
const noun = flags.calls === "faces" ? "calls" : "embeds";
const call = flags.calls === "faces"
  ? (i) => (i % 2 ? mfn.detect(images[i % images.length]) : mfn.embedFaces(images[i % images.length]))
  : (i) => mfn.embed(images[i % images.length]);
const mib = (bytes) => bytes / 2 ** 20;
const signed = (x) => `${x >= 0 ? "+" : ""}${x.toFixed(1)}`;

// A full collection on demand, without requiring node --expose-gc.
v8.setFlagsFromString("--expose-gc");
const gc = vm.runInNewContext("gc");

function sample(done, started) {
  const found = process.memoryUsage();
  gc();
  const collected = process.memoryUsage();
  return { embeds: done, seconds: (performance.now() - started) / 1000, rssMiB: mib(found.rss),
           rssAfterGcMiB: mib(collected.rss), heapTotalAfterGcMiB: mib(collected.heapTotal),
           heapUsedAfterGcMiB: mib(collected.heapUsed), externalAfterGcMiB: mib(collected.external),
           // Everything outside V8's own heap: native allocations, thread stacks, code.
           rssOutsideHeapMiB: mib(collected.rss - collected.heapTotal) };
}

const started = performance.now();
const warm = await closedLoop(call, { clients: flags.clients, total: flags.warmup });
const samples = [sample(0, started)];
console.log(`warm-up: ${flags.warmup} ${noun} in ${warm.seconds.toFixed(1)} s, RSS ${samples[0].rssMiB.toFixed(1)} MiB, ` +
            `${samples[0].rssAfterGcMiB.toFixed(1)} MiB after GC`);

let done = 0;
const errors = {};
let seconds = 0;
while (done < flags.embeds) {
  const chunk = Math.min(flags.every, flags.embeds - done);
  const result = await closedLoop(call, { clients: flags.clients, total: chunk });
  for (const [code, count] of Object.entries(result.errors)) errors[code] = (errors[code] ?? 0) + count;
  seconds += result.seconds;
  done += chunk;
  samples.push(sample(done, started));
  const last = samples.at(-1);
  console.log(`${done} ${noun}, ${(done / seconds).toFixed(0)} ${noun}/s, RSS ${last.rssMiB.toFixed(1)} MiB, ` +
              `after GC ${last.rssAfterGcMiB.toFixed(1)} MiB (${signed(last.rssAfterGcMiB - samples[0].rssAfterGcMiB)}), ` +
              `heap ${last.heapUsedAfterGcMiB.toFixed(1)} used of ${last.heapTotalAfterGcMiB.toFixed(1)} MiB, ` +
              `outside the heap ${last.rssOutsideHeapMiB.toFixed(1)} MiB`);
}
await mfn.dispose();

const growth = samples.at(-1).rssAfterGcMiB - samples[0].rssAfterGcMiB;
// How much of it is V8 keeping a larger heap (capacity, not live objects), and how much is the rest.
const heapCapacityGrowth = samples.at(-1).heapTotalAfterGcMiB - samples[0].heapTotalAfterGcMiB;
const heapUsedGrowth = samples.at(-1).heapUsedAfterGcMiB - samples[0].heapUsedAfterGcMiB;
const outsideHeapGrowth = samples.at(-1).rssOutsideHeapMiB - samples[0].rssOutsideHeapMiB;
const rawGrowth = samples.at(-1).rssMiB - samples[0].rssMiB;
const peakGrowth = Math.max(...samples.map((s) => s.rssMiB)) - samples[0].rssAfterGcMiB;
const record = {
  tool: "bench/serving/soak.mjs",
  ...provenance(),
  settings: { embeds: flags.embeds, warmup: flags.warmup, clients: flags.clients, flip: flags.flip === "on",
              calls: flags.calls,
              inputs: flags.calls === "faces" ? "64 LFW photos, 250x250 raw RGB; detect and embedFaces in turn"
                                              : "112x112 raw RGB" },
  imagesPerSecond: done / seconds,
  errors,
  rssGrowthAfterGcMiB: growth,
  heapCapacityGrowthMiB: heapCapacityGrowth,
  heapUsedGrowthMiB: heapUsedGrowth,
  outsideHeapGrowthMiB: outsideHeapGrowth,
  rssGrowthAsFoundMiB: rawGrowth,
  rssPeakAboveWarmMiB: peakGrowth,
  samples,
};
console.log(`RSS growth after warm-up: ${signed(growth)} MiB after GC (bar < 30 MB); as found ${signed(rawGrowth)} MiB, ` +
            `peak ${signed(peakGrowth)} MiB above the warm RSS after GC`);
console.log(`  of which V8 heap capacity ${signed(heapCapacityGrowth)} MiB (live objects ${signed(heapUsedGrowth)} MiB), ` +
            `outside the V8 heap ${signed(outsideHeapGrowth)} MiB`);
if (flags.json) console.log(`wrote ${writeResult(flags.json, record)}`);
