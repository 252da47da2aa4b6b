// Shared by the mfn/bullmq suites: the Redis in MFN_REDIS_URL (default
// 127.0.0.1:6379), queue names no other run uses, removal of every key a
// queue left behind, worker processes (bench/queue/worker.mjs), and faces.
import { type ChildProcess, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { join } from "node:path";

import { Queue } from "bullmq";
import { Redis } from "ioredis";
import sharp from "sharp";
import { expect } from "vitest";

import type { BatchStats, Landmarks } from "../../src/index.js";
import { packageRoot } from "../../src/native.js";
import { hasLfw, imageSpread, landmarksOf, readImage } from "./lfw.js";
import { noiseImage } from "./tensors.js";

export const REDIS_URL = process.env.MFN_REDIS_URL ?? "redis://127.0.0.1:6379";

/** Why the suites cannot run here (printed as the skip reason), or null when Redis answers PING. */
export async function redisUnavailable(): Promise<string | null> {
  const client = new Redis(REDIS_URL, { lazyConnect: true, connectTimeout: 2000, maxRetriesPerRequest: 0,
                                        retryStrategy: () => null });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.ping();
    return null;
  } catch (error) {
    return `no Redis at ${REDIS_URL} (${(error as Error).message}); set MFN_REDIS_URL or start redis-server`;
  } finally {
    client.disconnect();
  }
}

/** A queue name unique to this run: parallel runs never share jobs. */
export function uniqueQueue(tag: string): string {
  return `mfn-test-${tag}-${process.pid}-${randomBytes(4).toString("hex")}`;
}

/** Deletes every key of the queue (jobs, events, meta). */
export async function dropQueue(name: string): Promise<void> {
  const queue = new Queue(name, { connection: { url: REDIS_URL } });
  try {
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
  }
}

export interface Face { bytes: Buffer; landmarks: Landmarks }

/** Real faces (LFW) when the data set is here, else PNGs of noise; with landmarks that fit them. */
export async function faces(count: number): Promise<Face[]> {
  if (hasLfw) return imageSpread(count).map((path) => ({ bytes: readImage(path), landmarks: landmarksOf(path) }));
  return Promise.all(Array.from({ length: count }, async (_, i) => {
    const raw = noiseImage(160, 160, 3, i + 1);
    const bytes = await sharp(raw.data, { raw: { width: 160, height: 160, channels: 3 } }).png().toBuffer();
    return { bytes, landmarks: [[56, 64], [104, 64], [80, 88], [60, 115], [100, 115]] as Landmarks };
  }));
}

export function expectSameBits(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  expect(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
    .equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))).toBe(true);
}

export interface WorkerReport {
  stats: BatchStats;
  jobs: { active: number; completed: number; failed: number };
}

export interface WorkerProcess {
  child: ChildProcess;
  /** The embedder's batch counters and the worker's job counts, now. */
  report(): Promise<WorkerReport>;
  /** SIGTERM: the worker finishes its running jobs and exits 0; resolves with its last report and exit code. */
  stop(): Promise<WorkerReport & { code: number | null }>;
}

const workerScript = join(packageRoot, "bench", "queue", "worker.mjs");

/** Starts bench/queue/worker.mjs on `queue` (CPU backend); resolves once it takes jobs. */
export async function startWorkerProcess(queue: string, flags: Record<string, string | number> = {}): Promise<WorkerProcess> {
  const args = Object.entries({ queue, redis: REDIS_URL, backend: "cpu", ...flags }).flatMap(([k, v]) => [`--${k}`, String(v)]);
  const child = fork(workerScript, args, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const next = <T>(key: string) => new Promise<T>((resolve, reject) => {
    const onMessage = (message: Record<string, unknown>) => {
      if (!(key in message)) return;
      child.off("message", onMessage);
      child.off("exit", onExit);
      resolve(message as T);
    };
    const onExit = (code: number | null) => {
      child.off("message", onMessage);
      reject(new Error(`worker process exited with ${code} before "${key}"`));
    };
    child.on("message", onMessage);
    child.once("exit", onExit);
  });
  await next("ready");
  return {
    child,
    report: () => {
      const answer = next<WorkerReport>("stats");
      child.send("stats");
      return answer;
    },
    stop: async () => {
      const last = next<WorkerReport>("stopped");
      const exited = once(child, "exit") as Promise<[number | null]>;
      child.kill("SIGTERM");
      const [report, [code]] = await Promise.all([last, exited]);
      return { ...report, code };
    },
  };
}
