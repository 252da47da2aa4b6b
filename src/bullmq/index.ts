// mfn/bullmq: embedding workers and clients on a BullMQ (Redis) queue, so
// that embedding scales out to many processes and hosts. Needs the optional
// peer dependencies bullmq (and ioredis to connect with options or a URL).
export { createEmbeddingWorker } from "./worker.js";
export type { Connection, EmbeddingWorker, EmbeddingWorkerOptions } from "./worker.js";
export { createEmbeddingClient } from "./client.js";
export type {
  EmbeddingClient,
  EmbeddingClientOptions,
  QueuedEmbedManyOptions,
  QueuedEmbedOptions,
  QueuedFacesOptions,
  QueuedImage,
  QueuedItem,
} from "./client.js";
export { EMBED_FACES_JOB, EMBED_JOB } from "./wire.js";
export type { EmbeddingJobData, QueuedFace } from "./wire.js";
