// examples/server in front mode (MFN_FRONT): the HTTP service puts each image
// on a BullMQ queue and two worker processes embed them; its answers carry
// the library's own embeddings, bit for bit, errors from the workers keep
// their status and code, too many waiting images answer 429, and SIGTERM
// still exits cleanly. Skips when no Redis answers (MFN_REDIS_URL).
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, createEmbedder } from "../src/index.js";
import { packageRoot } from "../src/native.js";
import {
  type Face, REDIS_URL, type WorkerProcess, dropQueue, expectSameBits, faces, redisUnavailable, startWorkerProcess,
  uniqueQueue,
} from "./helpers/queue.js";

const noRedis = await redisUnavailable();
if (noRedis) console.warn(`skipping the front-mode suite: ${noRedis}`);

interface Front { child: ChildProcess; url: string }

/** Starts examples/server/server.mjs in front mode on an ephemeral port; resolves once it listens. */
async function startFront(queue: string, env: Record<string, string> = {}): Promise<Front> {
  const child = spawn(process.execPath, [join(packageRoot, "examples", "server", "server.mjs")], {
    env: { ...process.env, PORT: "0", HOST: "127.0.0.1", MFN_FRONT: REDIS_URL, MFN_FRONT_QUEUE: queue, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stderr!.on("data", (chunk: Buffer) => { output += chunk.toString(); });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (match) resolve(match[1]!);
    });
    child.once("exit", (code) => reject(new Error(`front exited with ${code}: ${output}`)));
  });
  return { child, url };
}

async function stopFront(front: Front | undefined): Promise<number | null> {
  if (!front || front.child.exitCode !== null) return front?.child.exitCode ?? null;
  const exited = once(front.child, "exit") as Promise<[number | null]>;
  front.child.kill("SIGTERM");
  return (await exited)[0];
}

async function post(url: string, body: string | Buffer, type: string, signal?: AbortSignal) {
  const response = await fetch(url, { method: "POST", body, headers: { "content-type": type }, ...(signal ? { signal } : {}) });
  return { status: response.status, json: await response.json() as Record<string, any> };
}

describe.skipIf(noRedis !== null)("examples/server in front mode", () => {
  const queue = uniqueQueue("front");
  const idleQueue = uniqueQueue("front-idle");
  let local: Embedder;
  let sample: Face[];
  let workers: WorkerProcess[] = [];
  let front: Front;

  beforeAll(async () => {
    [local, sample] = await Promise.all([createEmbedder({ backend: "cpu" }), faces(4)]);
    workers = await Promise.all([0, 1].map(() => startWorkerProcess(queue, { threads: 1, concurrency: 32 })));
    front = await startFront(queue);
  });

  afterAll(async () => {
    const code = await stopFront(front);
    await Promise.all(workers.map((worker) => worker.stop()));
    await Promise.all([dropQueue(queue), dropQueue(idleQueue)]);
    await local?.dispose();
    expect(code).toBe(0);
  });

  it("GET /health names the queue backend", async () => {
    const response = await fetch(`${front.url}/health`);
    expect(await response.json()).toEqual({ status: "ok", backend: "bullmq", fallbackReason: null });
  });

  it("POST /embed: the workers' embeddings are the library's, bit for bit", async () => {
    const [a, b] = sample;
    const raw = await post(`${front.url}/embed`, a!.bytes, "image/jpeg");
    expect(raw.status).toBe(200);
    expect(raw.json.dimensions).toBe(512);
    expectSameBits(Float32Array.from(raw.json.embedding), await local.embed(a!.bytes));
    const aligned = await post(`${front.url}/embed?landmarks=${a!.landmarks.flat().join(",")}`, a!.bytes, "image/jpeg");
    expectSameBits(Float32Array.from(aligned.json.embedding), await local.embed(a!.bytes, { landmarks: a!.landmarks }));
    const many = await post(`${front.url}/embed`, JSON.stringify({
      images: [a!.bytes.toString("base64"), { image: b!.bytes.toString("base64"), landmarks: b!.landmarks }],
    }), "application/json");
    expect(many.status).toBe(200);
    const expected = await local.embedBatch([a!.bytes, { image: b!.bytes, landmarks: b!.landmarks }]);
    many.json.embeddings.forEach((row: number[], i: number) => expectSameBits(Float32Array.from(row), expected[i]!));
  });

  it("POST /faces: the workers' faces and embeddings are the library's, bit for bit", async () => {
    const [a] = sample;
    const found = await post(`${front.url}/faces`, a!.bytes, "image/jpeg");
    expect(found.status).toBe(200);
    const expected = await local.embedFaces(a!.bytes);
    expect(expected.length).toBeGreaterThan(0);
    expect(found.json.faces.length).toBe(expected.length);
    found.json.faces.forEach((f: { box: object; landmarks: number[][]; embedding: number[] }, i: number) => {
      expect(f.box).toEqual(expected[i]!.box);
      expect(f.landmarks).toEqual(expected[i]!.landmarks);
      expectSameBits(Float32Array.from(f.embedding), expected[i]!.embedding);
    });
    const boxes = await post(`${front.url}/faces?embeddings=0&maxFaces=1`, a!.bytes, "image/jpeg");
    expect(boxes.status).toBe(200);
    expect(boxes.json.faces).toEqual([{ box: expected[0]!.box, score: expected[0]!.score, landmarks: expected[0]!.landmarks }]);
  });

  it("POST /verify compares the workers' embeddings as the library does", async () => {
    const [a, b] = sample;
    const pair = await post(`${front.url}/verify`, JSON.stringify({
      a: { image: a!.bytes.toString("base64"), landmarks: a!.landmarks },
      b: { image: b!.bytes.toString("base64"), landmarks: b!.landmarks }, threshold: 0.4,
    }), "application/json");
    expect(pair.status).toBe(200);
    const expected = await local.verify(await local.embed(a!.bytes, { landmarks: a!.landmarks }),
                                        await local.embed(b!.bytes, { landmarks: b!.landmarks }), { threshold: 0.4 });
    expect(pair.json).toEqual(expected);
    const bad = await post(`${front.url}/verify`, JSON.stringify({
      a: a!.bytes.toString("base64"), b: b!.bytes.toString("base64"), threshold: 7,
    }), "application/json");
    expect(bad.status).toBe(400);
    expect(bad.json.error.code).toBe("MFN_INVALID_ARGUMENT");
  });

  it("an invalid job's code comes back from the worker as a 400", async () => {
    const response = await post(`${front.url}/embed`,
      JSON.stringify({ image: sample[0]!.bytes.toString("base64"), landmarks: [[1, 2], [3, 4]] }), "application/json");
    expect(response.status).toBe(400);
    expect(response.json.error.code).toBe("MFN_INVALID_LANDMARKS");
  });

  it("answers 429 once MFN_FRONT_MAX_WAITING images wait; a client that hangs up takes its job off the queue", async () => {
    const idle = await startFront(idleQueue, { MFN_FRONT_MAX_WAITING: "1" }); // no worker takes this queue
    try {
      const controller = new AbortController();
      const first = post(`${idle.url}/embed`, sample[0]!.bytes, "image/jpeg", controller.signal).catch((error: Error) => error);
      const { Queue } = await import("bullmq");
      const jobs = new Queue(idleQueue, { connection: { url: REDIS_URL } });
      try {
        await expect.poll(() => jobs.getWaitingCount()).toBe(1);
        const second = await post(`${idle.url}/embed`, sample[1]!.bytes, "image/jpeg");
        expect(second.status).toBe(429);
        expect(second.json.error.code).toBe("MFN_QUEUE_FULL");
        controller.abort();
        expect(await first).toBeInstanceOf(Error);
        await expect.poll(() => jobs.getWaitingCount()).toBe(0);
      } finally {
        await jobs.close();
      }
    } finally {
      expect(await stopFront(idle)).toBe(0);
    }
  });
});
