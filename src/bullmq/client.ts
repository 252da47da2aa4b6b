// createEmbeddingClient(): puts embedding jobs on a queue and resolves each
// call with its job's result. One QueueEvents stream serves every call: the
// client picks each job's id and registers it before adding the job, and
// reads the stream from where it stood when the client started, so no
// result can arrive before the client waits for it.

import { randomUUID } from "node:crypto";

import type { JobsOptions, Queue, QueueEvents, QueueEventsOptions } from "bullmq";

import { MfnError, abortedError, atCallSite, callSite, invalidParameter } from "../errors.js";
import type { Landmarks } from "../inputs.js";
import { checkOptions, checkSignal } from "../options.js";
import { bullmq } from "./load.js";
import {
  EMBED_FACES_JOB, EMBED_JOB, type EmbeddingJobData, type EmbeddingResult, type FacesResult, type QueuedFace,
  decodeFloats, encodeImage, errorFromReason,
} from "./wire.js";
import { type Connection, checkQueueName, toConnection } from "./worker.js";

/** An encoded image (JPEG, PNG, WebP): its bytes, or base64. */
export type QueuedImage = Uint8Array | string;

export interface EmbeddingClientOptions {
  /** Queue name; the same as the workers'. */
  queue: string;
  /** Redis: BullMQ connection options, an ioredis instance, or a redis:// URL. */
  connection: Connection;
  /** BullMQ key prefix (default "bull"); the same as the workers'. */
  prefix?: string;
  /**
   * Options of every job, over the defaults: attempts 3, exponential backoff
   * from 500 ms (engine failures only; invalid jobs are never retried),
   * removeOnComplete true (the result travels in the completion event),
   * removeOnFail { count: 1000 }. jobId is the client's own.
   */
  jobOptions?: Omit<JobsOptions, "jobId">;
  /** Errors of the Redis connections; default: console.error. BullMQ reconnects by itself. */
  onError?: (error: Error) => void;
}

export interface QueuedEmbedOptions {
  /** Five landmarks in the image: the face is aligned to the ArcFace template first. */
  landmarks?: Landmarks;
  /** Overrides the worker embedder's flip setting for this job. */
  flip?: boolean;
  /** Aborting rejects with MFN_ABORTED and removes the job if no worker has taken it yet. */
  signal?: AbortSignal;
}

export interface QueuedEmbedManyOptions {
  flip?: boolean;
  signal?: AbortSignal;
}

export interface QueuedFacesOptions {
  maxFaces?: number;
  minScore?: number;
  signal?: AbortSignal;
}

export type QueuedItem = QueuedImage | { image: QueuedImage; landmarks?: Landmarks };

export interface EmbeddingClient {
  /** The BullMQ queue the jobs go to (for counts, pause, clean). */
  readonly queue: Queue;
  /** The embedding of one face, computed by a worker: the bits a local embed() gives. */
  embed(image: QueuedImage, options?: QueuedEmbedOptions): Promise<Float32Array>;
  /** One job per image, added in one round trip; embeddings in input order. */
  embedMany(items: ReadonlyArray<QueuedItem>, options?: QueuedEmbedManyOptions): Promise<Float32Array[]>;
  /** Every face a worker's detector finds, each with its embedding (needs workers whose embedder has embedFaces). */
  embedFaces(image: QueuedImage, options?: QueuedFacesOptions): Promise<QueuedFace[]>;
  /** Resolves once both Redis connections are up and the result stream is being read. */
  waitUntilReady(): Promise<void>;
  /** Calls still waiting reject with MFN_DISPOSED (their jobs stay queued); closes the connections. Idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

interface Waiter {
  settle(result: unknown): void;
  fail(error: MfnError): void;
}

type Decoder<T> = (result: unknown) => T;

const JOB_DEFAULTS: JobsOptions = {
  attempts: 3,
  backoff: { type: "exponential", delay: 500 },
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
};

function decodeEmbedding(result: unknown): Float32Array {
  return decodeFloats((result as EmbeddingResult | null)?.embedding, "embedding");
}

function decodeFaces(result: unknown): QueuedFace[] {
  const faces = (result as FacesResult | null)?.faces;
  if (!Array.isArray(faces)) throw new MfnError("MFN_INTERNAL", "The worker returned no faces");
  return faces.map((face) => ({ ...face, embedding: decodeFloats(face?.embedding, "face embedding") }));
}

function defined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

class EmbeddingClientImpl implements EmbeddingClient {
  readonly queue: Queue;
  #events: QueueEvents | undefined;
  readonly #jobOptions: JobsOptions;
  readonly #waiters = new Map<string, Waiter>();
  readonly #ready: Promise<void>;
  #closing: Promise<void> | undefined;

  constructor(name: string, options: EmbeddingClientOptions, onError: (error: Error) => void) {
    const connection = toConnection(options.connection, "options.connection");
    const prefix = options.prefix === undefined ? {} : { prefix: options.prefix };
    this.#jobOptions = { ...JOB_DEFAULTS, ...options.jobOptions };
    this.queue = new bullmq.Queue(name, { connection, ...prefix });
    this.queue.on("error", onError);
    this.#ready = this.#start(name, { connection, ...prefix }, onError);
    this.#ready.catch(() => {});
  }

  /**
   * Reads the result stream from the Redis server's current time on (stream
   * ids are server milliseconds): every job added after this is seen. Redis
   * before 6.2 has no server_time_usec: the stream is then read from its start.
   */
  async #start(name: string, options: QueueEventsOptions, onError: (error: Error) => void): Promise<void> {
    await this.queue.waitUntilReady();
    const info = await (await this.queue.backend.client).info();
    const micros = /^server_time_usec:(\d+)/m.exec(info)?.[1];
    const lastEventId = micros === undefined ? "0-0" : `${BigInt(micros) / 1000n - 1n}-18446744073709551615`;
    const events = new bullmq.QueueEvents(name, { ...options, lastEventId });
    this.#events = events;
    if (this.#closing) await events.close();
    events.on("error", onError);
    events.on("completed", ({ jobId, returnvalue }) => this.#waiters.get(jobId)?.settle(returnvalue));
    events.on("failed", ({ jobId, failedReason }) => this.#waiters.get(jobId)?.fail(errorFromReason(failedReason)));
    await events.waitUntilReady();
  }

  waitUntilReady(): Promise<void> {
    return this.#ready;
  }

  embed(image: QueuedImage, options?: QueuedEmbedOptions): Promise<Float32Array> {
    const site = callSite(EmbeddingClientImpl.prototype.embed);
    return this.#call(site, () => {
      const opts = checkOptions<QueuedEmbedOptions>(options, "options", ["landmarks", "flip", "signal"]);
      const data = defined<EmbeddingJobData>({ image: encodeImage(image, "image"), landmarks: opts.landmarks, flip: opts.flip });
      return this.#submit(EMBED_JOB, [data], decodeEmbedding, checkSignal(opts.signal, "options.signal"))[0]!;
    });
  }

  embedMany(items: ReadonlyArray<QueuedItem>, options?: QueuedEmbedManyOptions): Promise<Float32Array[]> {
    const site = callSite(EmbeddingClientImpl.prototype.embedMany);
    return this.#call(site, () => {
      if (!Array.isArray(items)) throw invalidParameter("items", "an array of images", items);
      const opts = checkOptions<QueuedEmbedManyOptions>(options, "options", ["flip", "signal"]);
      const data = items.map((item: QueuedItem, i) => {
        const entry = typeof item === "object" && !(item instanceof Uint8Array) && item !== null;
        const image = entry ? (item as { image: unknown }).image : item;
        const landmarks = entry ? (item as { landmarks?: Landmarks }).landmarks : undefined;
        return defined<EmbeddingJobData>({
          image: encodeImage(image, entry ? `items[${i}].image` : `items[${i}]`), landmarks, flip: opts.flip,
        });
      });
      return Promise.all(this.#submit(EMBED_JOB, data, decodeEmbedding, checkSignal(opts.signal, "options.signal")));
    });
  }

  embedFaces(image: QueuedImage, options?: QueuedFacesOptions): Promise<QueuedFace[]> {
    const site = callSite(EmbeddingClientImpl.prototype.embedFaces);
    return this.#call(site, () => {
      const opts = checkOptions<QueuedFacesOptions>(options, "options", ["maxFaces", "minScore", "signal"]);
      const data = defined<EmbeddingJobData>({
        image: encodeImage(image, "image"), detect: true, maxFaces: opts.maxFaces, minScore: opts.minScore,
      });
      return this.#submit(EMBED_FACES_JOB, [data], decodeFaces, checkSignal(opts.signal, "options.signal"))[0]!;
    });
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const waiter of this.#waiters.values()) {
        waiter.fail(new MfnError("MFN_DISPOSED", "The embedding client was closed before the job finished"));
      }
      // Not waiting for #ready: with Redis unreachable it never settles. #start closes a stream reader it makes later.
      await this.queue.close();
      await this.#events?.close();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #call<T>(site: { stack?: string }, run: () => Promise<T>): Promise<T> {
    try {
      if (this.#closing) throw new MfnError("MFN_DISPOSED", "This embedding client has been closed");
      return run().catch((error: unknown) => { throw atCallSite(error, site); });
    } catch (error) {
      return Promise.reject(atCallSite(error, site));
    }
  }

  /** Registers one waiter per job, then adds the jobs (one round trip); the promises settle in job order. */
  #submit<T>(name: string, data: Partial<EmbeddingJobData>[], decode: Decoder<T>, signal?: AbortSignal): Promise<T>[] {
    if (signal?.aborted) throw abortedError(signal);
    const ids = data.map(() => randomUUID());
    const results = ids.map((id) => new Promise<T>((resolve, reject) => {
      const done = () => {
        this.#waiters.delete(id);
        signal?.removeEventListener("abort", onAbort);
      };
      const onAbort = () => {
        done();
        reject(abortedError(signal!));
        // Only a job no worker holds can go; a running one finishes and its result is dropped.
        this.queue.remove(id).catch(() => {});
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.#waiters.set(id, {
        settle: (result) => {
          done();
          try {
            resolve(decode(result));
          } catch (error) {
            reject(error);
          }
        },
        fail: (error) => {
          done();
          reject(error);
        },
      });
    }));
    const added = this.#ready.then(() => this.queue.addBulk(data.map((job, i) => ({
      name, data: job, opts: { ...this.#jobOptions, jobId: ids[i]! },
    }))));
    added.catch((error: unknown) => {
      const failure = atCallSite(error, {});
      for (const id of ids) this.#waiters.get(id)?.fail(failure);
    });
    return results;
  }
}

/** A client of the embedding workers on `queue`. */
export function createEmbeddingClient(options: EmbeddingClientOptions): EmbeddingClient {
  const site = callSite(createEmbeddingClient);
  try {
    if (typeof options !== "object" || options === null) throw invalidParameter("options", "an object", options);
    const queue = checkQueueName(options.queue, "options.queue");
    const onError = options.onError ?? ((error: Error) => console.error(`mfn/bullmq client of ${queue}:`, error));
    return new EmbeddingClientImpl(queue, options, onError);
  } catch (error) {
    throw atCallSite(error, site);
  }
}
