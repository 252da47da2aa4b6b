// Redis for the mfn/bullmq suites: the server in MFN_REDIS_URL (default
// 127.0.0.1:6379), a queue name no other run uses, and removal of every key
// a queue left behind.
import { randomBytes } from "node:crypto";

import { Queue } from "bullmq";
import { Redis } from "ioredis";

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
