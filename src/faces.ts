// Face detection types and the conversions around engine.detect /
// engine.embedFaces: option checks, and the flat arrays the binding returns
// turned into Face objects.

import { MfnError, invalidParameter } from "./errors.js";
import type { NativeFaces } from "./native.js";

/** Most faces one image yields (maxFaces is capped here). */
export const MAX_FACES = 256;
/** Default minScore: detector confidence below which an anchor is dropped before suppression. */
export const DEFAULT_MIN_SCORE = 0.5;

/** One face in the input image's pixels (0-based; as stored, EXIF orientation is not applied). */
export interface Face {
  /** Box in continuous pixel units: [x, x + width) x [y, y + height); not clipped to the image. */
  box: { x: number; y: number; width: number; height: number };
  /** Detector confidence, 0..1. */
  score: number;
  /**
   * The five ArcFace points as pixel centres: image-left eye, image-right eye, nose tip,
   * image-left and image-right mouth corner. Pass them to embed({ landmarks }) for the same alignment.
   */
  landmarks: [number, number][];
}

export interface DetectOptions {
  /** Keep the best maxFaces faces (1..256, default 256). */
  maxFaces?: number;
  /** Drop detections below this confidence, (0, 1] (default 0.5). */
  minScore?: number;
  /** Aborting rejects the call with MFN_ABORTED; a detection not yet started never runs. */
  signal?: AbortSignal;
}

export interface EmbedFacesOptions extends DetectOptions {
  /** Overrides the embedder's flip setting for this call. */
  flip?: boolean;
}

export type FaceWithEmbedding = Face & { embedding: Float32Array };

/** maxFaces and minScore checked, with their defaults. */
export function checkDetectOptions(opts: DetectOptions): { maxFaces: number; minScore: number } {
  const maxFaces = opts.maxFaces ?? MAX_FACES;
  if (typeof maxFaces !== "number" || !Number.isInteger(maxFaces) || maxFaces < 1 || maxFaces > MAX_FACES) {
    throw invalidParameter("options.maxFaces", `an integer between 1 and ${MAX_FACES}`, maxFaces);
  }
  const minScore = opts.minScore ?? DEFAULT_MIN_SCORE;
  if (typeof minScore !== "number" || !(minScore > 0 && minScore <= 1)) {
    throw invalidParameter("options.minScore", "a number in (0, 1]", minScore);
  }
  return { maxFaces, minScore };
}

/** The binding's flat arrays as Face objects (highest score first, as the engine orders them). */
export function toFaces(native: NativeFaces): Face[] {
  const n = native.boxes.length / 5;
  if (!Number.isInteger(n) || native.landmarks.length !== n * 10) {
    throw new MfnError("MFN_INTERNAL", "The engine returned malformed faces");
  }
  return Array.from({ length: n }, (_, i) => {
    const b = native.boxes.subarray(i * 5, i * 5 + 5);
    const l = native.landmarks.subarray(i * 10, i * 10 + 10);
    return {
      box: { x: b[0]!, y: b[1]!, width: b[2]!, height: b[3]! },
      score: b[4]!,
      landmarks: [0, 1, 2, 3, 4].map((k) => [l[2 * k]!, l[2 * k + 1]!] as [number, number]),
    };
  });
}

/** toFaces plus each face's embedding row. */
export function toFacesWithEmbeddings(native: NativeFaces, dimensions: number): FaceWithEmbedding[] {
  const faces = toFaces(native);
  const rows = native.embeddings;
  if (rows === undefined || rows.length !== faces.length * dimensions) {
    throw new MfnError("MFN_INTERNAL", "The engine returned embeddings that do not match its faces");
  }
  return faces.map((face, i) => ({ ...face, embedding: rows.slice(i * dimensions, (i + 1) * dimensions) }));
}
