// Front mode of the example server: instead of embedding itself, the server
// puts each image on a BullMQ queue that embedding workers on other hosts
// take (mfn/bullmq), so the same HTTP API scales out by adding workers.
// Turned on with MFN_FRONT=redis://host:6379 (or --front redis://...);
// MFN_FRONT_QUEUE names the queue (default "mfn-embed"). Start workers with
//   node bench/queue/worker.mjs --queue mfn-embed --redis redis://host:6379
// This front embeds nothing and loads no model; it needs bullmq and ioredis.
import { DEFAULT_VERIFY_THRESHOLD, MfnError } from "mfn";

const DEFAULT_QUEUE = "mfn-embed";

/** Front settings from the environment or --front, or undefined when the server embeds itself. */
export function frontConfig(env = process.env, argv = process.argv) {
  const flag = argv.indexOf("--front");
  const url = flag >= 0 ? argv[flag + 1] : env.MFN_FRONT;
  if (!url) return undefined;
  const maxWaiting = env.MFN_FRONT_MAX_WAITING ? Number(env.MFN_FRONT_MAX_WAITING) : 1024;
  if (!Number.isInteger(maxWaiting) || maxWaiting < 1) throw new Error("MFN_FRONT_MAX_WAITING must be a positive integer");
  return { url, queue: env.MFN_FRONT_QUEUE || DEFAULT_QUEUE, maxWaiting };
}

function cosine(a, b) {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return dot / Math.sqrt(aa * bb);
}

/**
 * What the server needs of an embedder, done by the workers on the queue:
 * embed, embedBatch and verify (on embeddings) and dispose. At most
 * `maxWaiting` images wait for workers at once; beyond that a request gets
 * MFN_QUEUE_FULL (429), as a full local batching queue would give.
 */
export async function createFrontEmbedder({ url, queue, maxWaiting }) {
  const { createEmbeddingClient } = await import("mfn/bullmq");
  const client = createEmbeddingClient({ queue, connection: url });
  await client.waitUntilReady();
  let waiting = 0;
  let dimensions = 512; // the bundled model's, until the workers say otherwise
  const admit = async (count, run) => {
    if (waiting + count > maxWaiting) {
      throw new MfnError("MFN_QUEUE_FULL", `${waiting} images are waiting for the embedding workers`);
    }
    waiting += count;
    try {
      return await run();
    } finally {
      waiting -= count;
    }
  };
  const seen = (embedding) => {
    dimensions = embedding.length;
    return embedding;
  };
  return {
    backend: "bullmq",
    fallbackReason: null,
    queue,
    get dimensions() {
      return dimensions;
    },
    embed: (image, options) => admit(1, async () => seen(await client.embed(image, options))),
    embedBatch: (items, options) => admit(items.length, async () => (await client.embedMany(items, options)).map(seen)),
    embedFaces: (image, options) => admit(1, () => client.embedFaces(image, options)),
    // The workers run detection only together with embedding: a front
    // detection is theirs without the embeddings.
    detect: (image, options) => admit(1, async () =>
      (await client.embedFaces(image, options)).map(({ embedding: _, ...face }) => face)),
    async verify(a, b, { threshold = DEFAULT_VERIFY_THRESHOLD } = {}) {
      if (typeof threshold !== "number" || !(threshold >= -1 && threshold <= 1)) {
        throw new MfnError("MFN_INVALID_ARGUMENT", "Expected a number between -1 and 1 for options.threshold");
      }
      const similarity = cosine(a, b);
      return { similarity, match: similarity >= threshold, threshold };
    },
    dispose: () => client.close(),
  };
}
