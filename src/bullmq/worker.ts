// createEmbeddingWorker(): a BullMQ worker whose jobs are embedded by one
// Embedder. With `concurrency` jobs in flight at once, each job is one
// embed() call into the embedder's batching queue, so concurrent jobs share
// engine batches exactly as concurrent local calls do.

import type { ConnectionOptions, Job, Worker, WorkerOptions } from "bullmq";

import type { Embedder } from "../embedder.js";
import { MfnError, atCallSite, callSite, invalidParameter } from "../errors.js";
import { checkInteger } from "../options.js";
import { bullmq } from "./load.js";
import {
  type EmbeddingResult, type FacesResult, INVALID_JOB_CODES, type ParsedJob, encodeFloats, failureReason, parseJob,
} from "./wire.js";

/** A BullMQ connection, or a redis:// (rediss://) URL. */
export type Connection = ConnectionOptions | string;

export interface EmbeddingWorkerOptions {
  /** Queue name; the same as the clients'. */
  queue: string;
  /** Redis: BullMQ connection options, an ioredis instance, or a redis:// URL. */
  connection: Connection;
  /** Embeds the jobs. It stays the caller's: close() does not dispose of it. */
  embedder: Embedder;
  /**
   * Jobs in flight at once (default 64): the largest engine batch the jobs of
   * this worker can form. Keep it at or below the embedder's maxQueue.
   */
  concurrency?: number;
  /** Other BullMQ worker settings (prefix, lockDuration, stalledInterval, maxStalledCount, ...). */
  worker?: Omit<WorkerOptions, "connection" | "concurrency" | "autorun">;
  /** Errors of the Redis connection; default: console.error. BullMQ reconnects by itself. */
  onError?: (error: Error) => void;
}

export interface EmbeddingWorker {
  /** The BullMQ worker, for its events ("completed", "failed", "stalled", ...) and pause()/resume(). */
  readonly worker: Worker;
  /** Resolves once the worker is connected and taking jobs. */
  waitUntilReady(): Promise<void>;
  /** Stops taking jobs and resolves once the running ones have finished; idempotent. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function toConnection(connection: unknown, name: string): ConnectionOptions {
  if (typeof connection === "string") {
    if (!/^rediss?:\/\//.test(connection)) throw invalidParameter(name, "a redis:// or rediss:// URL", connection);
    return { url: connection };
  }
  if (typeof connection !== "object" || connection === null) {
    throw invalidParameter(name, "BullMQ connection options, a Redis client or a redis:// URL", connection);
  }
  return connection as ConnectionOptions;
}

export function checkQueueName(queue: unknown, name: string): string {
  if (typeof queue !== "string" || queue.length === 0 || queue.includes(":")) {
    throw invalidParameter(name, "a non-empty queue name without ':'", queue);
  }
  return queue;
}

/**
 * The error a job fails with: invalid jobs as UnrecoverableError, so BullMQ
 * fails them at once whatever their attempts; anything else (an engine
 * failure, a disposed embedder) as a plain Error, retried with the job's backoff.
 */
function jobError(error: MfnError): Error {
  const reason = failureReason(error);
  return INVALID_JOB_CODES.has(error.code) ? new bullmq.UnrecoverableError(reason) : new Error(reason);
}

async function runJob(embedder: Embedder, job: ParsedJob): Promise<EmbeddingResult | FacesResult> {
  if (!job.detect) {
    const embedding = await embedder.embed(job.image, {
      ...(job.landmarks === undefined ? {} : { landmarks: job.landmarks }),
      ...(job.flip === undefined ? {} : { flip: job.flip }),
    });
    return { embedding: encodeFloats(embedding), dimensions: embedding.length };
  }
  const faces = await embedder.embedFaces(job.image, {
    ...(job.maxFaces === undefined ? {} : { maxFaces: job.maxFaces }),
    ...(job.minScore === undefined ? {} : { minScore: job.minScore }),
  });
  return { faces: faces.map((face) => ({ ...face, embedding: encodeFloats(face.embedding) })) };
}

/** Starts a worker on `queue` that embeds its jobs with `embedder`. */
export function createEmbeddingWorker(options: EmbeddingWorkerOptions): EmbeddingWorker {
  const site = callSite(createEmbeddingWorker);
  try {
    if (typeof options !== "object" || options === null) throw invalidParameter("options", "an object", options);
    const queue = checkQueueName(options.queue, "options.queue");
    const connection = toConnection(options.connection, "options.connection");
    const { embedder } = options;
    if (typeof embedder?.embed !== "function") throw invalidParameter("options.embedder", "an Embedder", embedder);
    const concurrency = checkInteger(options.concurrency ?? undefined, "options.concurrency", 1, 65536, 64);
    const onError = options.onError ?? ((error: Error) => console.error(`mfn/bullmq worker on ${queue}:`, error));

    const processor = async (job: Job): Promise<EmbeddingResult | FacesResult> => {
      try {
        return await runJob(embedder, parseJob(job.data));
      } catch (error) {
        throw jobError(atCallSite(error, {}));
      }
    };
    const worker = new bullmq.Worker(queue, processor, { ...options.worker, connection, concurrency });
    worker.on("error", onError);

    let closing: Promise<void> | undefined;
    const close = () => (closing ??= worker.close());
    return {
      worker,
      waitUntilReady: async () => { await worker.waitUntilReady(); },
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    throw atCallSite(error, site);
  }
}
