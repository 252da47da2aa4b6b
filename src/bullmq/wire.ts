// What travels through Redis between an embedding client and its workers:
// job data, return values and failure reasons. BullMQ stores all three as
// JSON, so images travel as base64 and embeddings as base64 of their float32
// bytes (little-endian, as on every platform Node.js runs on): 512 floats
// take 2,732 characters instead of about 5,000 as a JSON number array, and
// arrive bit for bit.

import { MfnError, type MfnErrorCode, describe, invalidParameter, isMfnErrorCode } from "../errors.js";
import type { Landmarks } from "../inputs.js";
import type { Face, FaceWithEmbedding } from "../faces.js";
import { checkOptions } from "../options.js";

/** Job names on the queue. */
export const EMBED_JOB = "embed";
export const EMBED_FACES_JOB = "embed-faces";

/** The data of a job on an embedding queue, as stored in Redis. */
export interface EmbeddingJobData {
  /** The encoded image (JPEG, PNG, WebP) as base64; a Buffer added by another producer arrives as its JSON form. */
  image: string | { type: "Buffer"; data: number[] };
  /** Five landmarks in the image: the face is aligned to the ArcFace template first (not with detect). */
  landmarks?: Landmarks;
  /** Overrides the worker embedder's flip setting for this job (not with detect). */
  flip?: boolean;
  /** Find the faces in the image and embed each (embedder.embedFaces). */
  detect?: boolean;
  /** With detect: at most this many faces, highest scores first. */
  maxFaces?: number;
  /** With detect: the lowest detector score kept. */
  minScore?: number;
}

/** A face found by a detect job: the worker embedder's embedFaces result, as it returned it. */
export type QueuedFace = FaceWithEmbedding;

export interface EmbeddingResult {
  embedding: string;
  dimensions: number;
}

export interface FacesResult {
  faces: Array<Face & { embedding: string }>;
}

/** What a worker may do with a job, checked before anything reaches the embedder. */
export type ParsedJob =
  | { detect: false; image: Buffer; landmarks?: Landmarks; flip?: boolean }
  | { detect: true; image: Buffer; maxFaces?: number; minScore?: number };

const JOB_KEYS = ["image", "landmarks", "flip", "detect", "maxFaces", "minScore"];
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Codes that mean the job itself is wrong: it fails at once and is never retried. */
export const INVALID_JOB_CODES: ReadonlySet<MfnErrorCode> = new Set<MfnErrorCode>([
  "MFN_INVALID_ARGUMENT", "MFN_EMPTY_INPUT", "MFN_DECODE_FAILED", "MFN_INVALID_DIMENSIONS", "MFN_INVALID_CHANNELS",
  "MFN_INVALID_LANDMARKS",
]);

export function encodeFloats(values: Float32Array): string {
  return Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString("base64");
}

/** The embedding a worker returned; anything malformed is MFN_INTERNAL (a worker of another version). */
export function decodeFloats(text: unknown, what: string): Float32Array {
  if (typeof text !== "string") throw new MfnError("MFN_INTERNAL", `The worker returned no ${what}`);
  const bytes = Buffer.from(text, "base64");
  if (bytes.length === 0 || bytes.length % 4 !== 0) {
    throw new MfnError("MFN_INTERNAL", `The worker returned a malformed ${what} (${bytes.length} bytes)`);
  }
  // A copy: Buffer.from may share a pool slab at an offset that is not a multiple of 4.
  const out = new Float32Array(bytes.length / 4);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

/** Job data for an image the client was given: a Buffer/Uint8Array or a base64 string. */
export function encodeImage(image: unknown, name: string): string {
  if (typeof image === "string") {
    checkBase64(image, name);
    return image;
  }
  if (image instanceof Uint8Array) {
    if (image.length === 0) throw new MfnError("MFN_EMPTY_INPUT", `${name} is empty`);
    return Buffer.from(image.buffer, image.byteOffset, image.byteLength).toString("base64");
  }
  throw invalidParameter(name, "a Buffer or a base64 string of an encoded image", image);
}

function checkBase64(text: string, name: string): void {
  if (text.length === 0) throw new MfnError("MFN_EMPTY_INPUT", `${name} is empty`);
  if (text.length % 4 === 1 || !BASE64.test(text)) {
    throw new MfnError("MFN_INVALID_ARGUMENT", `Expected base64 for ${name} but received a string that is not base64`);
  }
}

function decodeImage(image: unknown): Buffer {
  if (typeof image === "string") {
    checkBase64(image, "job.data.image");
    return Buffer.from(image, "base64");
  }
  // Buffer.prototype.toJSON, when a producer added a Buffer itself.
  if (typeof image === "object" && image !== null && (image as { type?: unknown }).type === "Buffer" &&
      Array.isArray((image as { data?: unknown }).data)) {
    const data = (image as { data: unknown[] }).data;
    if (data.length === 0) throw new MfnError("MFN_EMPTY_INPUT", "job.data.image is empty");
    if (!data.every((byte) => Number.isInteger(byte) && (byte as number) >= 0 && (byte as number) <= 255)) {
      throw invalidParameter("job.data.image", "bytes", image);
    }
    return Buffer.from(data as number[]);
  }
  throw invalidParameter("job.data.image", "a base64 string of an encoded image", image);
}

function optionalNumber(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value)) throw invalidParameter(name, "a finite number", value);
  return value;
}

/** Checks a job's data; throws MfnError (an invalid-job code) naming what is wrong. */
export function parseJob(data: unknown): ParsedJob {
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw invalidParameter("job.data", "an object { image, landmarks?, flip?, detect? }", data);
  }
  const job = checkOptions<Record<string, unknown>>(data, "job.data", JOB_KEYS);
  const image = decodeImage(job.image);
  if (job.detect !== undefined && typeof job.detect !== "boolean") {
    throw invalidParameter("job.data.detect", "a boolean", job.detect);
  }
  if (job.detect === true) {
    for (const key of ["landmarks", "flip"] as const) {
      if (job[key] !== undefined) {
        throw new MfnError("MFN_INVALID_ARGUMENT",
          `job.data.${key} does not apply to detect jobs (each face is aligned with its own landmarks, with the worker's flip setting)`);
      }
    }
    const maxFaces = optionalNumber(job.maxFaces, "job.data.maxFaces");
    const minScore = optionalNumber(job.minScore, "job.data.minScore");
    return {
      detect: true, image,
      ...(maxFaces === undefined ? {} : { maxFaces }),
      ...(minScore === undefined ? {} : { minScore }),
    };
  }
  for (const key of ["maxFaces", "minScore"] as const) {
    if (job[key] !== undefined) throw new MfnError("MFN_INVALID_ARGUMENT", `job.data.${key} needs detect: true`);
  }
  // landmarks and flip are checked by the embedder, with the same codes as a local call.
  return {
    detect: false, image,
    ...(job.landmarks === undefined ? {} : { landmarks: job.landmarks as Landmarks }),
    ...(job.flip === undefined ? {} : { flip: job.flip as boolean }),
  };
}

/** A job's failure reason: "<MFN code>: <message>", which the client turns back into an MfnError. */
export function failureReason(error: MfnError): string {
  return `${error.code}: ${error.message}`;
}

const REASON = /^(MFN_[A-Z_]+): ([\s\S]*)$/;

/** The MfnError of a failed job; failures that carry no code (a stalled job, a crashed worker) are MFN_INTERNAL. */
export function errorFromReason(reason: unknown): MfnError {
  const text = typeof reason === "string" ? reason : describe(reason);
  const match = REASON.exec(text);
  if (match && isMfnErrorCode(match[1])) return new MfnError(match[1], match[2]!);
  return new MfnError("MFN_INTERNAL", `The embedding job failed: ${text}`);
}
