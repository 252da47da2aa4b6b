#!/usr/bin/env node
// mfn/bullmq on this machine, against the same images embedded in-process in
// the same run: jobs/s and end-to-end latency (client call to result) for 1
// and 2 worker processes (bench/queue/worker.mjs) on a local Redis; the
// per-job cost of the queue (a lone job through the queue against a lone
// local embed, Redis commands per job, encoding); and throughput against the
// worker's concurrency with the engine batches it formed.
//
//   node bench/queue/throughput.mjs [--jobs 800] [--inflight 128] [--images 32] [--flip off] [--reps 2]
//        [--lone 200] [--sweep 1,4,16,64,256] [--redis redis://127.0.0.1:6379]
//        [--json bench/results/queue-throughput.json]
//
// Every configuration gets a fresh queue, warms up with 64 jobs, then keeps
// --inflight calls in flight until --jobs calls are done. In-process and the
// queue configurations alternate over --reps repetitions. The images are
// LFW faces (../shared/data/lfw or MFN_LFW_DIR) aligned with their landmarks.
import { loadavg } from "node:os";
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { Redis } from "ioredis";

import { createEmbeddingClient } from "../../dist/bullmq/index.js";
import { parseLandmarks } from "../../dist/eval/pairs.js";
import { createEmbedder } from "../../dist/index.js";
import { closedLoop, median, parseFlags, percentile, provenance, root, writeResult } from "../serving/common.mjs";

const flags = parseFlags({
  jobs: 800, inflight: 128, images: 32, flip: "off", reps: 2, lone: 200, sweep: "1,4,16,64,256",
  redis: "redis://127.0.0.1:6379", json: "",
});
const flip = flags.flip === "on";
const lfw = process.env.MFN_LFW_DIR ?? join(root, "..", "shared", "data", "lfw");

function lfwFaces(count) {
  const all = readFileSync(join(lfw, "pairs_images.txt"), "utf8").split(/\r?\n/).filter(Boolean);
  const landmarks = parseLandmarks(readFileSync(join(lfw, "lfw_landmark_deepfunneled.txt"), "utf8"));
  return Array.from({ length: count }, (_, i) => {
    const path = all[Math.floor((i * all.length) / count)];
    return { image: readFileSync(join(lfw, "lfw-deepfunneled", path)), landmarks: landmarks.get(path) };
  });
}

const faces = lfwFaces(flags.images);
const redis = new Redis(flags.redis);
const workerScript = join(root, "bench", "queue", "worker.mjs");

/**
 * The Redis server's counters: commands processed (those inside BullMQ's Lua
 * scripts included), script calls (one round trip each) and its CPU seconds.
 * Other clients of the same server count too.
 */
async function redisCounters() {
  const info = await redis.info("all");
  const field = (pattern) => Number(pattern.exec(info)?.[1] ?? 0);
  return {
    commands: field(/^total_commands_processed:(\d+)/m),
    scripts: field(/^cmdstat_evalsha:calls=(\d+)/m) + field(/^cmdstat_eval:calls=(\d+)/m),
    cpuSeconds: field(/^used_cpu_user:([\d.]+)/m) + field(/^used_cpu_sys:([\d.]+)/m),
  };
}

function perJob(before, after, total) {
  return {
    redisCommandsPerJob: (after.commands - before.commands) / total,
    redisScriptsPerJob: (after.scripts - before.scripts) / total,
    redisCpuMsPerJob: (1000 * (after.cpuSeconds - before.cpuSeconds)) / total,
  };
}

async function startWorkers(queue, count, options) {
  return Promise.all(Array.from({ length: count }, async () => {
    const args = Object.entries({ queue, redis: flags.redis, backend: "cpu", flip: flags.flip, ...options })
      .flatMap(([k, v]) => [`--${k}`, String(v)]);
    const child = fork(workerScript, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const [ready] = await once(child, "message");
    if (!ready.ready) throw new Error(`worker did not start: ${JSON.stringify(ready)}`);
    const next = (key) => new Promise((resolve) => {
      const on = (message) => {
        if (key in message) {
          child.off("message", on);
          resolve(message);
        }
      };
      child.on("message", on);
    });
    return {
      stats: () => { const answer = next("stats"); child.send("stats"); return answer; },
      stop: () => { const answer = next("stopped"); child.kill("SIGTERM"); return answer; },
    };
  }));
}

const cpuMs = (usage) => (usage.user + usage.system) / 1000;

function summary(run, total) {
  return {
    jobsPerSecond: total / run.seconds,
    p50Ms: percentile(run.latencies, 50),
    p99Ms: percentile(run.latencies, 99),
    errors: run.errors,
  };
}

const item = (i) => faces[i % faces.length];

async function inProcess(total, inflight) {
  const embedder = await createEmbedder({ backend: "cpu", flip });
  try {
    const call = (i) => embedder.embed(item(i).image, { landmarks: item(i).landmarks });
    await closedLoop(call, { clients: Math.min(inflight, 64), total: 64 });
    const before = embedder.batchStats();
    const cpu = process.cpuUsage();
    const run = await closedLoop(call, { clients: inflight, total });
    const after = embedder.batchStats();
    return {
      ...summary(run, total),
      meanBatch: (after.images - before.images) / (after.batches - before.batches),
      cpuMsPerJob: cpuMs(process.cpuUsage(cpu)) / total,
    };
  } finally {
    await embedder.dispose();
  }
}

/** `workers` worker processes (`threads` engine threads, `concurrency` jobs each); the client here keeps `inflight` jobs queued. */
async function throughQueue({ workers, threads, concurrency, total, inflight }) {
  const queue = `mfn-bench-${process.pid}-${randomBytes(4).toString("hex")}`;
  const started = await startWorkers(queue, workers, { threads, concurrency });
  const client = createEmbeddingClient({ queue, connection: flags.redis });
  try {
    await client.waitUntilReady();
    const call = (i) => client.embed(item(i).image, { landmarks: item(i).landmarks });
    await closedLoop(call, { clients: Math.min(inflight, 64), total: 64 });
    const before = await Promise.all(started.map((w) => w.stats()));
    const counters = await redisCounters();
    const cpu = process.cpuUsage();
    const run = await closedLoop(call, { clients: inflight, total });
    const clientCpuMsPerJob = cpuMs(process.cpuUsage(cpu)) / total;
    const redisCost = perJob(counters, await redisCounters(), total);
    const after = await Promise.all(started.map((w) => w.stats()));
    const workerCpuMs = after.reduce((sum, a, k) => sum + cpuMs(a.cpu) - cpuMs(before[k].cpu), 0);
    const images = after.reduce((s, a, k) => s + a.stats.images - before[k].stats.images, 0);
    const batches = after.reduce((s, a, k) => s + a.stats.batches - before[k].stats.batches, 0);
    return {
      ...summary(run, total), meanBatch: images / batches, ...redisCost,
      workerCpuMsPerJob: workerCpuMs / total, clientCpuMsPerJob,
    };
  } finally {
    await client.queue.obliterate({ force: true });
    await client.close();
    await Promise.all(started.map((w) => w.stop()));
  }
}

/** Client-side encoding and decoding of one job (base64 of the image, JSON; base64 of the embedding, back). */
function encodingMs() {
  const embedding = new Float32Array(512).map((_, i) => Math.sin(i));
  const n = 2000;
  const t = performance.now();
  for (let i = 0; i < n; i++) {
    const data = JSON.stringify({ image: item(i).image.toString("base64"), landmarks: item(i).landmarks });
    JSON.parse(data);
    const result = JSON.stringify({ embedding: Buffer.from(embedding.buffer).toString("base64"), dimensions: 512 });
    const bytes = Buffer.from(JSON.parse(result).embedding, "base64");
    new Float32Array(512).set(new Float32Array(bytes.buffer, bytes.byteOffset, 512));
  }
  return (performance.now() - t) / n;
}

const redisVersion = /^redis_version:(\S+)/m.exec(await redis.info("server"))[1];
const bullmqVersion = JSON.parse(readFileSync(join(root, "node_modules", "bullmq", "package.json"), "utf8")).version;
const record = { ...provenance(), redisVersion, bullmqVersion, flags, images: `${faces.length} LFW faces, aligned with landmarks`, runs: [] };
const log = (label, result) => {
  console.log(`${label.padEnd(44)} ${result.jobsPerSecond.toFixed(1).padStart(7)} jobs/s  p50 ${result.p50Ms.toFixed(1)} ms` +
              `  p99 ${result.p99Ms.toFixed(1)} ms  mean batch ${result.meanBatch.toFixed(1)}` +
              (result.redisCommandsPerJob
                ? `  redis/job: ${result.redisCommandsPerJob.toFixed(1)} cmds, ${result.redisScriptsPerJob.toFixed(2)} scripts;` +
                  `  cpu ms/job: worker ${result.workerCpuMsPerJob.toFixed(2)}, client ${result.clientCpuMsPerJob.toFixed(2)},` +
                  ` redis ${result.redisCpuMsPerJob.toFixed(2)}`
                : `  cpu ms/job ${result.cpuMsPerJob.toFixed(2)}`));
  record.runs.push({ label, ...result, loadAverage1m: loadavg()[0] });
};

// 1. Throughput and latency: in-process against 1 and 2 worker processes, interleaved.
const { jobs, inflight } = flags;
const configs = [
  ["in-process, 2 threads", () => inProcess(jobs, inflight)],
  ["queue, 1 worker process x 2 threads", () => throughQueue({ workers: 1, threads: 0, concurrency: inflight, total: jobs, inflight })],
  ["queue, 2 worker processes x 1 thread", () => throughQueue({ workers: 2, threads: 1, concurrency: inflight / 2, total: jobs, inflight })],
];
for (let r = 0; r < flags.reps; r++) {
  for (const [label, run] of r % 2 ? [...configs].reverse() : configs) log(`${label} (rep ${r + 1})`, await run());
}

// 2. Per-job cost of the queue: one call at a time, a local embed() and a queued job of the same image
// alternating (which goes first alternates too), so that both see the same load; medians of the pairs.
async function lonePairs(count) {
  const queue = `mfn-bench-${process.pid}-${randomBytes(4).toString("hex")}`;
  const [worker] = await startWorkers(queue, 1, { threads: 0, concurrency: 1 });
  const embedder = await createEmbedder({ backend: "cpu", flip });
  const client = createEmbeddingClient({ queue, connection: flags.redis });
  try {
    await client.waitUntilReady();
    const time = async (call) => {
      const t = performance.now();
      await call();
      return performance.now() - t;
    };
    const local = (i) => time(() => embedder.embed(item(i).image, { landmarks: item(i).landmarks }));
    const queued = (i) => time(() => client.embed(item(i).image, { landmarks: item(i).landmarks }));
    for (let i = 0; i < 16; i++) await Promise.all([local(i), queued(i)]);
    const pairs = [];
    const counters = await redisCounters();
    for (let i = 0; i < count; i++) {
      const [a, b] = i % 2 ? [await queued(i), await local(i)].reverse() : [await local(i), await queued(i)];
      pairs.push({ local: a, queued: b });
    }
    const redisCost = perJob(counters, await redisCounters(), count);
    return {
      localP50Ms: median(pairs.map((p) => p.local)),
      queuedP50Ms: median(pairs.map((p) => p.queued)),
      overheadMs: median(pairs.map((p) => p.queued - p.local)),
      overheadP90Ms: percentile(pairs.map((p) => p.queued - p.local), 90),
      ...redisCost,
    };
  } finally {
    await client.queue.obliterate({ force: true });
    await client.close();
    await embedder.dispose();
    await worker.stop();
  }
}
const lone = await lonePairs(flags.lone);
console.log(`lone calls: local p50 ${lone.localP50Ms.toFixed(1)} ms, queued p50 ${lone.queuedP50Ms.toFixed(1)} ms, ` +
            `overhead median ${lone.overheadMs.toFixed(1)} ms (p90 ${lone.overheadP90Ms.toFixed(1)} ms), ` +
            `redis ${lone.redisScriptsPerJob.toFixed(2)} scripts/job`);
record.lone = lone;
record.encodingMsPerJob = encodingMs();

// 3. Throughput against the worker's concurrency (client keeps twice as many jobs queued).
for (const concurrency of flags.sweep.split(",").map(Number)) {
  const total = Math.max(200, Math.min(jobs, concurrency * 16));
  log(`queue, 1 worker, concurrency ${concurrency}`,
      await throughQueue({ workers: 1, threads: 0, concurrency, total, inflight: 2 * concurrency }));
}

const by = (prefix) => record.runs.filter((run) => run.label.startsWith(prefix));
const local = by("in-process, 2 threads");
// Ratios per repetition (each against the in-process run of the same repetition), then their median.
const ratio = (prefix) => median(by(prefix).map((run, r) => run.jobsPerSecond / local[r].jobsPerSecond));
record.summary = {
  inProcessJobsPerSecond: median(local.map((run) => run.jobsPerSecond)),
  oneWorkerRatio: ratio("queue, 1 worker process"),
  twoWorkersRatio: ratio("queue, 2 worker processes"),
  queueOverheadMsPerJob: lone.overheadMs,
  // CPU time per job (ms, all cores): the in-process embed against worker + client + Redis for a queued job.
  cpuMsPerJob: {
    inProcess: median(local.map((run) => run.cpuMsPerJob)),
    worker: median(by("queue, 1 worker process").map((run) => run.workerCpuMsPerJob)),
    client: median(by("queue, 1 worker process").map((run) => run.clientCpuMsPerJob)),
    redis: median(by("queue, 1 worker process").map((run) => run.redisCpuMsPerJob)),
  },
  encodingMsPerJob: record.encodingMsPerJob,
};
console.log(JSON.stringify(record.summary, null, 2));
await redis.quit();
if (flags.json) console.log(`wrote ${writeResult(flags.json, record)}`);
