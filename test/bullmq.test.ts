// mfn/bullmq against a real Redis: a worker and a client in this process
// give the bits of a local embed(); invalid jobs fail with the local call's
// code after one attempt; engine failures are retried, with backoff, on
// another worker; close() finishes the running jobs; abort and close settle
// waiting calls. Skips when no Redis answers (MFN_REDIS_URL).
import { spawnSync } from "node:child_process";
import { type AddressInfo, createServer } from "node:net";

import { type Job, QueueEvents } from "bullmq";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  EMBED_JOB, type EmbeddingClient, type EmbeddingWorker, createEmbeddingClient, createEmbeddingWorker,
} from "../src/bullmq/index.js";
import { type Embedder, type Landmarks, createEmbedder } from "../src/index.js";
import { packageRoot } from "../src/native.js";
import { codeOf } from "./helpers/errors.js";
import { type Face, REDIS_URL, dropQueue, expectSameBits, faces, redisUnavailable, uniqueQueue } from "./helpers/queue.js";

const noRedis = await redisUnavailable();
if (noRedis) console.warn(`skipping mfn/bullmq: ${noRedis}`);

/** Resolves with the first event `name` of `worker`'s BullMQ worker. */
function nextEvent<T extends unknown[]>(worker: EmbeddingWorker, name: string): Promise<T> {
  return new Promise((resolve) => worker.worker.once(name as "failed", (...args: unknown[]) => resolve(args as T)));
}

describe.skipIf(noRedis !== null)("mfn/bullmq", () => {
  const queues: string[] = [];
  const closers: Array<() => Promise<void>> = [];
  let local: Embedder;
  let sample: Face[];
  let queue: string;
  let worker: EmbeddingWorker;
  let client: EmbeddingClient;

  /** A queue for one test, dropped at the end. */
  function newQueue(tag: string): string {
    const name = uniqueQueue(tag);
    queues.push(name);
    return name;
  }

  function startWorker(name: string, embedder: Embedder, concurrency = 16): EmbeddingWorker {
    const started = createEmbeddingWorker({ queue: name, connection: REDIS_URL, embedder, concurrency });
    closers.push(() => started.close());
    return started;
  }

  function startClient(name: string, jobOptions = {}): EmbeddingClient {
    const started = createEmbeddingClient({ queue: name, connection: REDIS_URL, jobOptions });
    closers.push(() => started.close());
    return started;
  }

  beforeAll(async () => {
    [local, sample] = await Promise.all([createEmbedder({ backend: "cpu" }), faces(8)]);
    queue = newQueue("main");
    worker = startWorker(queue, local, 32);
    client = startClient(queue);
    await Promise.all([worker.waitUntilReady(), client.waitUntilReady()]);
  });

  afterAll(async () => {
    for (const close of closers.reverse()) await close();
    await Promise.all(queues.map(dropQueue));
    await local?.dispose();
  });

  it("embed() through the queue gives the bits of a local embed(): Buffer or base64, landmarks, flip per job", async () => {
    const [a, b] = sample;
    expectSameBits(await client.embed(a!.bytes), await local.embed(a!.bytes));
    expectSameBits(await client.embed(b!.bytes.toString("base64")), await local.embed(b!.bytes));
    expectSameBits(await client.embed(a!.bytes, { landmarks: a!.landmarks }),
                   await local.embed(a!.bytes, { landmarks: a!.landmarks }));
    const [off, on] = await Promise.all([client.embed(b!.bytes, { flip: false }), client.embed(b!.bytes, { flip: true })]);
    expectSameBits(off, await local.embed(b!.bytes, { flip: false }));
    expectSameBits(on, await local.embed(b!.bytes, { flip: true }));
    expect(Buffer.from(off.buffer).equals(Buffer.from(on.buffer))).toBe(false);
  });

  it("embedMany(): one job per image, input order, concurrent jobs share engine batches", async () => {
    const items = Array.from({ length: 64 }, (_, i) => {
      const face = sample[i % sample.length]!;
      return i % 2 ? { image: face.bytes, landmarks: face.landmarks } : face.bytes;
    });
    const expected = await local.embedBatch(items);
    const before = local.batchStats();
    const embeddings = await client.embedMany(items);
    const after = local.batchStats();
    expect(embeddings.length).toBe(64);
    embeddings.forEach((embedding, i) => expectSameBits(embedding, expected[i]!));
    expect(after.images - before.images).toBe(64);
    // 64 jobs, 32 in flight: far fewer engine runs than jobs.
    expect(after.batches - before.batches).toBeLessThan(32);
  });

  it("invalid jobs fail with the local call's code, after one attempt of three", async () => {
    const garbage = Buffer.from("not an image at all");
    const cases: Array<[Buffer, object]> = [
      [garbage, {}],
      [sample[0]!.bytes, { landmarks: [[1, 2], [3, 4]] }],
      [sample[0]!.bytes, { flip: "yes" }],
    ];
    for (const [image, options] of cases) {
      const code = await codeOf(client.embed(image, options));
      expect(code).toBe(await codeOf(local.embed(image, options)));
    }
    // Jobs from other producers are checked by the worker itself.
    const events = new QueueEvents(queue, { connection: { url: REDIS_URL } });
    closers.push(() => events.close());
    await events.waitUntilReady();
    const raw: Array<[unknown, string]> = [
      [{}, "MFN_INVALID_ARGUMENT"],
      [{ image: 42 }, "MFN_INVALID_ARGUMENT"],
      [{ image: "###" }, "MFN_INVALID_ARGUMENT"],
      [{ image: "" }, "MFN_EMPTY_INPUT"],
      [{ image: sample[0]!.bytes.toString("base64"), colour: true }, "MFN_INVALID_ARGUMENT"],
      [{ image: sample[0]!.bytes.toString("base64"), maxFaces: 2 }, "MFN_INVALID_ARGUMENT"],
      [{ image: sample[0]!.bytes.toString("base64"), detect: true, flip: true }, "MFN_INVALID_ARGUMENT"],
      [{ image: Buffer.from("garbage bytes") }, "MFN_DECODE_FAILED"],
      [{ image: sample[0]!.bytes.toString("base64"), landmarks: [[1, 2]] }, "MFN_INVALID_LANDMARKS"],
      [{ image: sample[0]!.bytes.toString("base64"), landmarks: "eyes" }, "MFN_INVALID_ARGUMENT"],
    ];
    for (const [data, code] of raw) {
      const job: Job = await client.queue.add(EMBED_JOB, data, { attempts: 3, backoff: 100 });
      await expect(job.waitUntilFinished(events, 30_000)).rejects.toThrow(new RegExp(`^${code}: `));
      const failed = await client.queue.getJob(job.id!);
      expect(failed!.attemptsMade).toBe(1);
      expect(await failed!.getState()).toBe("failed");
    }
  });

  it("an engine failure is retried with backoff, here on another worker", async () => {
    const name = newQueue("retry");
    const broken = await createEmbedder({ backend: "cpu", threads: 1 });
    await broken.dispose(); // every call now rejects with MFN_DISPOSED, a failure that is not the job's
    const failing = startWorker(name, broken);
    const retrying = startClient(name, { attempts: 3, backoff: { type: "fixed", delay: 1500 } });
    await Promise.all([failing.waitUntilReady(), retrying.waitUntilReady()]);
    const firstFailure = nextEvent<[Job, Error]>(failing, "failed");
    const result = retrying.embed(sample[1]!.bytes);
    const [job, error] = await firstFailure;
    expect(error.message).toMatch(/^MFN_DISPOSED: /);
    expect(job.attemptsMade).toBe(1);
    expect(await job.getState()).toBe("delayed");
    await failing.close();
    const healthy = startWorker(name, local);
    await healthy.waitUntilReady();
    expectSameBits(await result, await local.embed(sample[1]!.bytes));
  });

  it("a job whose attempts all fail rejects with the engine's code", async () => {
    const name = newQueue("exhaust");
    const broken = await createEmbedder({ backend: "cpu", threads: 1 });
    await broken.dispose();
    const failing = startWorker(name, broken);
    const retrying = startClient(name, { attempts: 2, backoff: { type: "fixed", delay: 50 } });
    await Promise.all([failing.waitUntilReady(), retrying.waitUntilReady()]);
    let failures = 0;
    failing.worker.on("failed", () => { failures++; });
    expect(await codeOf(retrying.embed(sample[2]!.bytes))).toBe("MFN_DISPOSED");
    await expect.poll(() => failures).toBe(2);
  });

  it("close() stops taking jobs and finishes the running ones; another worker takes the rest", async () => {
    const name = newQueue("drain");
    const first = startWorker(name, local, 8);
    const drainClient = startClient(name);
    await Promise.all([first.waitUntilReady(), drainClient.waitUntilReady()]);
    const started = new Set<string>();
    const finished = new Set<string>();
    let stalled = 0;
    first.worker.on("active", (job) => started.add(job.id!));
    first.worker.on("completed", (job) => finished.add(job.id!));
    first.worker.on("stalled", () => { stalled++; });
    const items = Array.from({ length: 48 }, (_, i) => sample[i % sample.length]!.bytes);
    const results = drainClient.embedMany(items);
    await nextEvent(first, "active");
    await first.close();
    expect(started.size).toBeGreaterThan(0);
    expect(started.size).toBeLessThan(48);
    expect([...started].every((id) => finished.has(id))).toBe(true);
    expect(stalled).toBe(0);
    const second = startWorker(name, local, 8);
    await second.waitUntilReady();
    const embeddings = await results;
    const expected = await local.embedBatch(items);
    embeddings.forEach((embedding, i) => expectSameBits(embedding, expected[i]!));
  });

  it("aborting removes a job no worker has taken; closing the client rejects waiting calls with MFN_DISPOSED", async () => {
    const name = newQueue("idle"); // no worker
    const idle = startClient(name);
    await idle.waitUntilReady();
    const controller = new AbortController();
    const aborted = idle.embed(sample[0]!.bytes, { signal: controller.signal });
    await expect.poll(() => idle.queue.getWaitingCount()).toBe(1);
    controller.abort();
    expect(await codeOf(aborted)).toBe("MFN_ABORTED");
    await expect.poll(() => idle.queue.getWaitingCount()).toBe(0);
    expect(await codeOf(idle.embed(sample[0]!.bytes, { signal: AbortSignal.abort() }))).toBe("MFN_ABORTED");
    const waiting = codeOf(idle.embedMany([sample[0]!.bytes, sample[1]!.bytes]));
    await expect.poll(() => idle.queue.getWaitingCount()).toBe(2);
    await idle.close();
    expect(await waiting).toBe("MFN_DISPOSED");
    expect(await codeOf(idle.embed(sample[0]!.bytes))).toBe("MFN_DISPOSED");
  });

  it("checks its arguments with typed errors", async () => {
    expect(await codeOf(client.embed(42 as unknown as Buffer))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(client.embed("not base64!"))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(client.embed(Buffer.alloc(0)))).toBe("MFN_EMPTY_INPUT");
    expect(await codeOf(client.embed(sample[0]!.bytes, { colour: 1 } as never))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(client.embedMany("x" as never))).toBe("MFN_INVALID_ARGUMENT");
    const make = (options: unknown) => () => createEmbeddingWorker(options as never);
    expect(make({ queue: "q", connection: "http://x", embedder: local })).toThrow(/redis:\/\//);
    expect(make({ queue: "a:b", connection: REDIS_URL, embedder: local })).toThrow(/queue name/);
    expect(make({ queue: "q", connection: REDIS_URL, embedder: {} })).toThrow(/Embedder/);
    expect(make({ queue: "q", connection: REDIS_URL, embedder: local, concurrency: 0 })).toThrow(/concurrency/);
  });

  it("detect jobs run embedder.embedFaces: the same faces, embeddings bit for bit", async () => {
    const queued = client.embedFaces(sample[0]!.bytes, { maxFaces: 4 });
    const expected = await local.embedFaces(sample[0]!.bytes, { maxFaces: 4 });
    const found = await queued;
    expect(found.length).toBeGreaterThan(0);
    expect(found.length).toBe(expected.length);
    found.forEach((face, i) => {
      expect({ ...face, embedding: undefined }).toEqual({ ...expected[i], embedding: undefined });
      expectSameBits(face.embedding, expected[i]!.embedding);
    });
  });
});

describe("mfn/bullmq with no Redis answering", () => {
  it("calls end with their signal, and close() does not wait for a connection", async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve)); // nothing listens there now
    const errors: Error[] = [];
    const client = createEmbeddingClient({ queue: "unreachable", connection: `redis://127.0.0.1:${port}`,
                                           onError: (error) => errors.push(error) });
    expect(await codeOf(client.embed(Buffer.from([1, 2, 3]), { signal: AbortSignal.timeout(300) }))).toBe("MFN_ABORTED");
    const pending = codeOf(client.embed(Buffer.from([1, 2, 3])));
    const started = performance.now();
    await client.close();
    expect(performance.now() - started).toBeLessThan(5000);
    expect(await pending).toBe("MFN_DISPOSED");
    expect(errors.length).toBeGreaterThan(0);
  });
});

describe("mfn/bullmq without bullmq installed", () => {
  it("rejects the import with MFN_DEPENDENCY_MISSING and the command that fixes it", () => {
    // A resolve hook that answers for bullmq as Node does for an absent package.
    const hook = `export async function resolve(specifier, context, next) {
      if (specifier === "bullmq") {
        const error = new Error("Cannot find package 'bullmq' imported from " + context.parentURL);
        error.code = "ERR_MODULE_NOT_FOUND";
        throw error;
      }
      return next(specifier, context);
    }`;
    const script = `
      import { register } from "node:module";
      register("data:text/javascript," + encodeURIComponent(${JSON.stringify(hook)}));
      try {
        await import("mfn/bullmq");
        console.log(JSON.stringify({ loaded: true }));
      } catch (error) {
        console.log(JSON.stringify({ name: error.name, code: error.code, message: error.message }));
      }
      const { createEmbedder } = await import("mfn");
      console.log(JSON.stringify({ core: typeof createEmbedder }));`;
    const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { cwd: packageRoot, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    const [failure, core] = run.stdout.trim().split("\n").map((line) => JSON.parse(line));
    expect(failure).toMatchObject({ name: "MfnError", code: "MFN_DEPENDENCY_MISSING" });
    expect(failure.message).toContain("npm install bullmq ioredis");
    expect(core).toEqual({ core: "function" });
  });
});
