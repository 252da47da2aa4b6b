// bullmq is an optional peer dependency: `mfn` alone never installs it.
// Importing mfn/bullmq without it rejects with MFN_DEPENDENCY_MISSING and the
// command that fixes it, instead of Node's bare ERR_MODULE_NOT_FOUND.
import type * as BullMQ from "bullmq";

import { MfnError } from "../errors.js";

function isMissing(error: unknown, name: string): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (code === "ERR_MODULE_NOT_FOUND" || code === "MODULE_NOT_FOUND") &&
    typeof message === "string" && message.includes(`'${name}'`);
}

async function load(): Promise<typeof BullMQ> {
  try {
    return await import("bullmq");
  } catch (error) {
    if (!isMissing(error, "bullmq")) throw error;
    throw new MfnError("MFN_DEPENDENCY_MISSING",
      "mfn/bullmq needs the bullmq package (an optional peer dependency of mfn) and, to connect with " +
      "connection options or a URL, ioredis: npm install bullmq ioredis", { cause: error });
  }
}

/** The bullmq module, loaded once when mfn/bullmq is first imported. */
export const bullmq = await load();
