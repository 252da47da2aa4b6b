#!/usr/bin/env node
// One embedding worker process: an embedder and a BullMQ worker on a queue,
// as a host would run it. Used by the queue benchmarks and the queue tests;
// run it by hand to add a worker to a queue:
//
//   node bench/queue/worker.mjs --queue faces --redis redis://127.0.0.1:6379 --concurrency 256
//
// Started with an IPC channel (child_process.fork) it reports
// { ready, pid, backend } once it takes jobs and answers "stats" with the
// embedder's batch counters, its own job counts and its CPU time. SIGTERM or SIGINT: stop
// taking jobs, finish the running ones, exit 0.
import { createEmbedder } from "mfn";
import { createEmbeddingWorker } from "mfn/bullmq";

const defaults = {
  queue: "", redis: "redis://127.0.0.1:6379", concurrency: 64, threads: 0, flip: "on", backend: "auto",
  "max-batch": 256, "max-delay-us": -1, "stalled-ms": 30_000, "lock-ms": 30_000, "max-stalled": 1,
};

function flags() {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in defaults) || argv[i + 1] === undefined) {
      console.error(`usage: worker.mjs ${Object.keys(defaults).map((k) => `--${k} <${defaults[k] || "..."}>`).join(" ")}`);
      process.exit(2);
    }
    out[key] = typeof defaults[key] === "number" ? Number(argv[i + 1]) : argv[i + 1];
  }
  if (!out.queue) {
    console.error("worker.mjs: --queue is required");
    process.exit(2);
  }
  return out;
}

const options = flags();
const embedder = await createEmbedder({
  backend: options.backend, threads: options.threads, flip: options.flip !== "off", maxBatch: options["max-batch"],
  ...(options["max-delay-us"] >= 0 ? { maxDelayUs: options["max-delay-us"] } : {}),
  maxQueue: Math.max(4 * options["max-batch"], options.concurrency),
});
const worker = createEmbeddingWorker({
  queue: options.queue, connection: options.redis, embedder, concurrency: options.concurrency,
  worker: {
    stalledInterval: options["stalled-ms"], lockDuration: options["lock-ms"], maxStalledCount: options["max-stalled"],
  },
});
const jobs = { active: 0, completed: 0, failed: 0 };
worker.worker.on("active", () => { jobs.active++; });
worker.worker.on("completed", () => { jobs.active--; jobs.completed++; });
worker.worker.on("failed", () => { jobs.active--; jobs.failed++; });
await worker.waitUntilReady();

const report = (message) => (process.send ? process.send(message) : console.log(JSON.stringify(message)));
report({ ready: true, pid: process.pid, backend: embedder.backend });
process.on("message", (message) => {
  if (message === "stats") report({ stats: embedder.batchStats(), jobs, cpu: process.cpuUsage() });
});

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await worker.close();
  report({ stopped: true, stats: embedder.batchStats(), jobs });
  await embedder.dispose();
  process.disconnect?.();
  process.exit(0);
};
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
// The parent went away (a test that failed): stop like SIGTERM.
process.once("disconnect", stop);
