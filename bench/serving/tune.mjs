#!/usr/bin/env node
// How the batching defaults were chosen. For each maxDelayUs: the latency of
// a lone call (nothing to wait for), a burst of 256 concurrent calls, and a
// closed loop of 8 and 64 callers; for each maxQueue: an overload of 1024
// callers (accepted throughput, latency, rejections). CPU backend, flip off,
// 112x112 raw inputs.
//
//   node bench/serving/tune.mjs [--seconds 2] [--rounds 3] [--json bench/results/serving-tune.json]
//                               [--md bench/results/serving-tune.md]
import { writeFileSync } from "node:fs";
import { join } from "node:path";

import { createEmbedder } from "../../dist/index.js";
import { closedLoop, median, noiseImage, parseFlags, percentile, provenance, root, writeResult } from "./common.mjs";

const flags = parseFlags({ seconds: 2, rounds: 3, json: "", md: "" });
const images = Array.from({ length: 256 }, (_, i) => noiseImage(i + 1));
const pick = (i) => images[i % images.length];

// The machine may be shared: every measurement below is repeated over
// `rounds`, each round visiting every configuration in turn, and the
// medians are reported, so that a slow spell hits all configurations alike.

// Throughput of one engine call by batch size: how much coalescing buys.
async function batchCurve() {
  const mfn = await createEmbedder({ backend: "cpu", flip: false, maxDelayUs: 0 });
  await mfn.embedBatch(images.slice(0, 64));
  const sizes = [1, 2, 4, 8, 16, 32, 64, 128, 256];
  const times = sizes.map(() => []);
  for (let round = 0; round < flags.rounds; round++) {
    for (const [k, size] of sizes.entries()) {
      const t = performance.now();
      for (let done = 0; done < 256; done += size) await mfn.embedBatch(images.slice(0, size));
      times[k].push(256 / ((performance.now() - t) / 1000));
    }
  }
  await mfn.dispose();
  return sizes.map((batch, k) => ({ batch, imagesPerSecond: median(times[k]) }));
}

// A closed loop of `clients` callers lasting about `seconds` at `rate` images/s.
async function loop(mfn, clients, rate) {
  const total = Math.max(clients * 4, Math.round(rate * flags.seconds));
  const result = await closedLoop((i) => mfn.embed(pick(i)), { clients, total });
  return {
    imagesPerSecond: result.latencies.length / result.seconds,
    p50Ms: percentile(result.latencies, 50),
    p99Ms: percentile(result.latencies, 99),
    rejected: Object.values(result.errors).reduce((a, b) => a + b, 0),
    offered: total,
  };
}

// Median of each numeric field over the rounds.
function medianRow(samples) {
  const row = {};
  for (const key of Object.keys(samples[0])) row[key] = median(samples.map((s) => s[key]));
  return row;
}

// One engine at a time (an idle engine's threads would compete with the one
// measured), created afresh for each configuration in each round.
async function sweep(configs, options, measure) {
  const samples = configs.map(() => []);
  for (let round = 0; round < flags.rounds; round++) {
    for (const [k, config] of configs.entries()) {
      const mfn = await createEmbedder({ backend: "cpu", flip: false, ...options(config) });
      await mfn.embedBatch(images.slice(0, 64));
      samples[k].push(await measure(mfn));
      await mfn.dispose();
    }
  }
  return configs.map((config, k) => ({ config, ...medianRow(samples[k]) }));
}

let alternate = false;

async function delaySweep(rate) {
  return sweep([0, 250, 1000, 2000, 4000], (maxDelayUs) => ({ maxDelayUs }), async (mfn) => {
    const lone = [];
    for (let i = 0; i < 20; i++) {
      const t = performance.now();
      await mfn.embed(pick(i));
      lone.push(performance.now() - t);
    }
    // The serving bar: 256 concurrent calls against one embedBatch of the same
    // images, alternating which goes first.
    const timed = async (run) => {
      const t = performance.now();
      await run();
      return images.length / ((performance.now() - t) / 1000);
    };
    const burstRun = () => timed(() => Promise.all(images.map((image) => mfn.embed(image))));
    const batchRun = () => timed(() => mfn.embedBatch(images));
    const first = (alternate = !alternate) ? await burstRun() : await batchRun();
    const second = alternate ? await batchRun() : await burstRun();
    const [burst, batch] = alternate ? [first, second] : [second, first];
    const c8 = await loop(mfn, 8, rate);
    const c64 = await loop(mfn, 64, rate);
    return { loneP50Ms: percentile(lone, 50), burst256: burst, batch256: batch, burstRatio: burst / batch,
             c8Rate: c8.imagesPerSecond, c8P99Ms: c8.p99Ms, c64Rate: c64.imagesPerSecond, c64P99Ms: c64.p99Ms };
  });
}

async function queueSweep(rate) {
  return sweep([256, 512, 1024, 2048], (maxQueue) => ({ maxQueue }), (mfn) => loop(mfn, 1024, rate));
}

const curve = await batchCurve();
console.log(JSON.stringify(curve));
const rate = Math.max(...curve.map((r) => r.imagesPerSecond));
const delays = await delaySweep(rate);
console.log(JSON.stringify(delays));
const queues = await queueSweep(rate);
console.log(JSON.stringify(queues));
const record = { tool: "bench/serving/tune.mjs", ...provenance(),
                 settings: { flip: false, inputs: "112x112 raw RGB", maxBatch: 256, secondsPerLoop: flags.seconds, rounds: flags.rounds },
                 batchCurve: curve, maxDelayUs: delays, maxQueue: queues };
if (flags.json) console.log(`wrote ${writeResult(flags.json, record)}`);

if (flags.md) {
  const f = (x, d = 0) => x.toFixed(d);
  const lines = [
    "# Batching defaults: measurements",
    "",
    `${record.machine.cpu.model}, ${record.machine.cpu.cores} cores; Node ${record.versions.node}; commit ${record.commit.commit?.slice(0, 10)}${record.commit.dirty ? " (dirty)" : ""}; ${record.date}.`,
    `CPU backend, flip off, 112x112 raw inputs, maxBatch 256. Command: \`${record.command}\`.`,
    "",
    "## Throughput of one engine call by batch size",
    "",
    "| batch | images/s |",
    "|---:|---:|",
    ...curve.map((r) => `| ${r.batch} | ${f(r.imagesPerSecond)} |`),
    "",
    "## maxDelayUs",
    "",
    "| maxDelayUs | lone call p50 ms | 256 concurrent calls images/s | embedBatch(256) images/s | ratio | 8 callers images/s | 8 callers p99 ms | 64 callers images/s | 64 callers p99 ms |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...delays.map((r) => `| ${r.config} | ${f(r.loneP50Ms, 2)} | ${f(r.burst256)} | ${f(r.batch256)} | ${f(r.burstRatio, 3)} | ${f(r.c8Rate)} | ${f(r.c8P99Ms, 1)} | ${f(r.c64Rate)} | ${f(r.c64P99Ms, 1)} |`),
    "",
    "## maxQueue (1024 callers in a closed loop: overload)",
    "",
    "| maxQueue | accepted images/s | p50 ms | p99 ms | rejected of offered |",
    "|---:|---:|---:|---:|---:|",
    ...queues.map((r) => `| ${r.config} | ${f(r.imagesPerSecond)} | ${f(r.p50Ms)} | ${f(r.p99Ms)} | ${f(r.rejected)} of ${f(r.offered)} |`),
    "",
  ];
  writeFileSync(join(root, flags.md), `${lines.join("\n")}\n`);
  console.log(`wrote ${flags.md}`);
}
