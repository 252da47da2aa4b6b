// Drives one LFW evaluation: embeds every distinct image of the selected pairs
// once per flip setting (in batches through Embedder.embedBatch), then runs
// the protocol on the pair distances. Shared by the mfn-eval CLI and the
// accuracy test so that both measure the same thing. Runs on the caller's
// event loop; the engine does the work on its own threads.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import type { FivePoints, Pair } from "./pairs.js";
import {
  crossValidate,
  rocCurve,
  squaredL2Normalised,
  tarAtFar,
  type CrossValidation,
  type RocPoint,
  type TarAtFar,
} from "./protocol.js";

/** The part of the mfn Embedder this evaluation uses. */
export interface BatchEmbedder {
  embedBatch(inputs: { image: Buffer; landmarks: FivePoints }[], options: { flip: boolean }): Promise<Float32Array[]>;
}

export interface EmbedOptions {
  imagesDir: string;
  landmarks: ReadonlyMap<string, FivePoints>;
  flip: boolean;
  batch: number;
  /** Called after each batch with the number of images done so far. */
  onProgress?: (done: number, total: number) => void;
}

/** Embeds each path once; returns path -> embedding, and the time spent. */
export async function embedImages(
  embedder: BatchEmbedder,
  paths: readonly string[],
  options: EmbedOptions,
): Promise<{ embeddings: Map<string, Float32Array>; seconds: number }> {
  if (!(Number.isInteger(options.batch) && options.batch >= 1)) throw new Error(`batch must be a positive integer, got ${options.batch}`);
  for (const p of paths) {
    if (!options.landmarks.has(p)) throw new Error(`no landmarks for ${p}`);
  }
  const load = (start: number) =>
    Promise.all(
      paths.slice(start, start + options.batch).map(async (p) => ({
        image: await readFile(join(options.imagesDir, p)),
        landmarks: options.landmarks.get(p)!,
      })),
    );
  const embeddings = new Map<string, Float32Array>();
  const t0 = performance.now();
  // Read the next batch's files while the engine embeds the current one.
  let pending = paths.length > 0 ? load(0) : undefined;
  for (let start = 0; start < paths.length; start += options.batch) {
    const inputs = await pending!;
    pending = start + options.batch < paths.length ? load(start + options.batch) : undefined;
    const out = await embedder.embedBatch(inputs, { flip: options.flip });
    if (out.length !== inputs.length) throw new Error(`embedBatch returned ${out.length} embeddings for ${inputs.length} images`);
    out.forEach((e, k) => embeddings.set(paths[start + k]!, e));
    options.onProgress?.(start + inputs.length, paths.length);
  }
  return { embeddings, seconds: (performance.now() - t0) / 1000 };
}

export interface FlipResult {
  flip: boolean;
  pairs: number;
  images: number;
  embedSeconds: number;
  crossValidation: CrossValidation;
  tarAtFar: TarAtFar;
  roc: RocPoint[];
}

/** Distances of `pairs` (squared L2 of the normalised embeddings). */
export function pairDistances(pairs: readonly Pair[], embeddings: ReadonlyMap<string, Float32Array>): Float64Array {
  return Float64Array.from(pairs, (p) => {
    const a = embeddings.get(p.a);
    const b = embeddings.get(p.b);
    if (!a || !b) throw new Error(`missing embedding for ${a ? p.b : p.a}`);
    return squaredL2Normalised(a, b);
  });
}

/** The protocol on given distances: cross-validated accuracy, TAR@FAR, ROC. */
export function scorePairs(pairs: readonly Pair[], dist: Float64Array, far: number): Pick<FlipResult, "crossValidation" | "tarAtFar" | "roc"> {
  const same = pairs.map((p) => p.same);
  return {
    crossValidation: crossValidate(dist, same, pairs.map((p) => p.fold)),
    tarAtFar: tarAtFar(dist, same, far),
    roc: rocCurve(dist, same),
  };
}

/** Embeds the distinct images of `pairs` and scores them. */
export async function evaluatePairs(
  embedder: BatchEmbedder,
  pairs: readonly Pair[],
  paths: readonly string[],
  options: EmbedOptions & { far: number },
): Promise<FlipResult> {
  const { embeddings, seconds } = await embedImages(embedder, paths, options);
  const dist = pairDistances(pairs, embeddings);
  return { flip: options.flip, pairs: pairs.length, images: paths.length, embedSeconds: seconds, ...scorePairs(pairs, dist, options.far) };
}
