// Nothing lost: three worker processes (bench/queue/worker.mjs) on one queue
// in the real Redis, 2,400 jobs, and one worker killed with SIGKILL while
// its embedder has a batch in flight. BullMQ's stalled-job check (short
// locks here) puts the dead worker's jobs back on the queue; every job must
// complete exactly once (one completion event per job, no failures), and
// every embedding must be bit-identical to a local embed of the same image.
import { QueueEvents } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type EmbeddingClient, createEmbeddingClient } from "../src/bullmq/index.js";
import { type Embedder, createEmbedder } from "../src/index.js";
import {
  type Face, REDIS_URL, type WorkerProcess, dropQueue, expectSameBits, faces, redisUnavailable, startWorkerProcess,
  uniqueQueue,
} from "./helpers/queue.js";

const noRedis = await redisUnavailable();
if (noRedis) console.warn(`skipping the mfn/bullmq recovery suite: ${noRedis}`);

const JOBS = 2400;
const CHUNK = 100;          // jobs per embedMany call: one round trip adds them
const IMAGES = 24;          // distinct LFW faces, aligned with their landmarks, flip off
// Locks renewed every 1.5 s, a dead worker's jobs noticed within about 4 s. A live worker whose renewal is
// late on a loaded machine may lose a job too: it then runs again elsewhere (up to 5 times, not failed), and
// BullMQ refuses the late worker's result, so each job still completes once.
const WORKER_FLAGS = { threads: 1, flip: "off", concurrency: 32, "lock-ms": 3000, "stalled-ms": 1000, "max-stalled": 5 };

describe.skipIf(noRedis !== null)("mfn/bullmq: a worker killed mid-batch loses nothing", () => {
  const queue = uniqueQueue("recovery");
  let local: Embedder;
  let sample: Face[];
  let expected: Float32Array[];
  let client: EmbeddingClient;
  let observer: QueueEvents;
  let workers: WorkerProcess[] = [];

  beforeAll(async () => {
    [local, sample] = await Promise.all([createEmbedder({ backend: "cpu", flip: false }), faces(IMAGES)]);
    expected = await local.embedBatch(sample.map((face) => ({ image: face.bytes, landmarks: face.landmarks })));
    client = createEmbeddingClient({ queue, connection: REDIS_URL });
    observer = new QueueEvents(queue, { connection: { url: REDIS_URL } });
    workers = await Promise.all([0, 1, 2].map(() => startWorkerProcess(queue, WORKER_FLAGS)));
    await Promise.all([client.waitUntilReady(), observer.waitUntilReady()]);
  });

  afterAll(async () => {
    for (const worker of workers) if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill("SIGKILL");
    await client?.close();
    await observer?.close();
    await dropQueue(queue);
    await local?.dispose();
  });

  it(`${JOBS} jobs on 3 worker processes, one killed with SIGKILL: each completes once, bit-identical`, async () => {
    const completions = new Map<string, number>();
    const failures: string[] = [];
    const stalled = new Set<string>();
    observer.on("completed", ({ jobId }) => completions.set(jobId, (completions.get(jobId) ?? 0) + 1));
    observer.on("failed", ({ jobId, failedReason }) => failures.push(`${jobId}: ${failedReason}`));
    observer.on("stalled", ({ jobId }) => stalled.add(jobId));

    let resolved = 0;
    const chunks = Array.from({ length: JOBS / CHUNK }, (_, c) => {
      const indices = Array.from({ length: CHUNK }, (_, k) => (c * CHUNK + k) % IMAGES);
      return client.embedMany(indices.map((i) => ({ image: sample[i]!.bytes, landmarks: sample[i]!.landmarks })))
        .then((embeddings) => {
          resolved += embeddings.length;
          return embeddings.map((embedding, k) => ({ embedding, image: indices[k]! }));
        });
    });

    // Once a quarter of the jobs are done, kill one worker while its embedder holds calls (a batch runs or waits).
    await expect.poll(() => resolved, { timeout: 120_000, interval: 20 }).toBeGreaterThanOrEqual(JOBS / 4);
    const victim = workers[0]!;
    await expect.poll(async () => (await victim.report()).stats.pendingCalls, { timeout: 30_000, interval: 5 })
      .toBeGreaterThan(0);
    victim.child.kill("SIGKILL");
    const before = resolved;

    const results = (await Promise.all(chunks)).flat();
    expect(before).toBeLessThan(JOBS);
    expect(results.length).toBe(JOBS);
    for (const { embedding, image } of results) expectSameBits(embedding, expected[image]!);

    // The Redis side: one completion per job, none failed, and the killed worker's jobs were re-run.
    await expect.poll(() => completions.size, { timeout: 10_000 }).toBe(JOBS);
    expect([...completions.values()].every((count) => count === 1)).toBe(true);
    expect(failures).toEqual([]);
    expect(stalled.size).toBeGreaterThan(0);
    console.info(`killed a worker with ${JOBS - before} of ${JOBS} jobs unfinished: ${stalled.size} stalled jobs re-run`);
    expect([...stalled].every((id) => completions.get(id) === 1)).toBe(true);
    const counts = await client.queue.getJobCounts("waiting", "active", "delayed", "failed");
    expect(counts).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });

    // The survivors stop cleanly and formed real batches.
    const reports = await Promise.all(workers.slice(1).map((worker) => worker.stop()));
    for (const report of reports) {
      expect(report.code).toBe(0);
      expect(report.jobs.failed).toBe(0);
      expect(report.stats.images / report.stats.batches).toBeGreaterThan(1);
    }
  });
});
