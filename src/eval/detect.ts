// mfn-eval --detect: the LFW protocol from the raw photos. Every distinct
// image goes through Embedder.embedFaces (detect, align on the detector's
// landmarks, embed); the face used for a pair is the one nearest the photo's
// centre (LFW's subject is centred; the landmark file is not used to pick
// it). The landmark file only scores the detector:
//   found: some detected face's box holds the file's two eyes and nose tip and
//     is 1 to 4 inter-ocular distances (IOD) wide (the annotated face, not a
//     neighbour's nor a box around the whole picture);
//   NME: for that face, the mean distance over both eyes, the nose tip and the
//     mouth centre (mean of the corners) to the file's, divided by the IOD.
// A photo without a face leaves its pairs at the largest distance (4).
import { readFile } from "node:fs/promises";
import { join } from "node:path";

import type { FaceWithEmbedding } from "../faces.js";
import { scorePairs, type FlipResult } from "./evaluate.js";
import type { FivePoints, Pair } from "./pairs.js";
import { squaredL2Normalised } from "./protocol.js";

/** The part of the mfn Embedder this evaluation uses. */
export interface FaceEmbedder {
  embedFaces(image: Buffer, options: { flip: boolean }): Promise<FaceWithEmbedding[]>;
}

/** Box widths, in IODs, of a detection that is the annotated face. */
export const BOX_WIDTH_IODS = [1, 4] as const;

export interface DetectionScore {
  images: number;
  /** Images where the annotated face was found. */
  found: number;
  /** Images where no face at all was found. */
  noFace: number;
  /** Images where the face nearest the centre is not the annotated one (a wrong face used for pairs). */
  wrongCentreFace: number;
  /** Mean NME over the found faces, and its 95th percentile. */
  nme: number;
  nmeP95: number;
  /** Mean faces per image. */
  facesPerImage: number;
}

export type DetectFlipResult = FlipResult & { detection: DetectionScore };

const dist = (a: readonly [number, number], b: readonly [number, number]) => Math.hypot(a[0] - b[0], a[1] - b[1]);
const mouth = (p: readonly (readonly [number, number])[]): [number, number] =>
  [(p[3]![0] + p[4]![0]) / 2, (p[3]![1] + p[4]![1]) / 2];

/** NME of a face against the file's five points (eyes, nose, mouth centre). */
export function faceNme(face: readonly (readonly [number, number])[], truth: FivePoints): number {
  const iod = dist(truth[0]!, truth[1]!);
  return (dist(face[0]!, truth[0]!) + dist(face[1]!, truth[1]!) + dist(face[2]!, truth[2]!) +
    dist(mouth(face), mouth(truth))) / 4 / iod;
}

type Boxed = { box: { x: number; y: number; width: number; height: number } };

/** Whether a detection is the annotated face: its box holds both eyes and the nose, 1 to 4 IODs wide. */
export function isAnnotatedFace(face: Boxed, truth: FivePoints): boolean {
  const iod = dist(truth[0]!, truth[1]!);
  const { x, y, width, height } = face.box;
  const holds = ([px, py]: readonly [number, number]) => x <= px && px <= x + width && y <= py && py <= y + height;
  return holds(truth[0]!) && holds(truth[1]!) && holds(truth[2]!) &&
    width >= BOX_WIDTH_IODS[0] * iod && width <= BOX_WIDTH_IODS[1] * iod;
}

/** The face whose box centre is nearest the photo's centre. */
export function centreFace<F extends Boxed>(
  faces: readonly F[], width: number, height: number): F | undefined {
  let best: F | undefined;
  let bestD = Infinity;
  for (const f of faces) {
    const d = Math.hypot(f.box.x + f.box.width / 2 - width / 2, f.box.y + f.box.height / 2 - height / 2);
    if (d < bestD) { bestD = d; best = f; }
  }
  return best;
}

export interface DetectEvalOptions {
  imagesDir: string;
  landmarks: ReadonlyMap<string, FivePoints>;
  flip: boolean;
  far: number;
  /** Photos in flight at once (decoding overlaps the engine). */
  concurrency: number;
  /** Side of the photos, for the centre rule (LFW: 250). */
  imageSize: { width: number; height: number };
  /** Reads a photo; default: the file under imagesDir. */
  readImage?: (path: string) => Promise<Buffer>;
  onProgress?: (done: number, total: number) => void;
}

export async function evaluateFromPhotos(
  embedder: FaceEmbedder,
  pairs: readonly Pair[],
  paths: readonly string[],
  options: DetectEvalOptions,
): Promise<DetectFlipResult> {
  const embeddings = new Map<string, Float32Array>();
  const nmes: number[] = [];
  let found = 0, noFace = 0, wrongCentre = 0, faces = 0, done = 0, next = 0;
  const t0 = performance.now();
  const worker = async () => {
    for (;;) {
      const i = next++;
      if (i >= paths.length) return;
      const p = paths[i]!;
      const bytes = await (options.readImage ?? ((q: string) => readFile(join(options.imagesDir, q))))(p);
      const result = await embedder.embedFaces(bytes, { flip: options.flip });
      faces += result.length;
      const truth = options.landmarks.get(p);
      const centre = centreFace(result, options.imageSize.width, options.imageSize.height);
      if (centre === undefined) noFace++;
      else embeddings.set(p, centre.embedding);
      if (truth !== undefined) {
        const match = result.find((f) => isAnnotatedFace(f, truth));
        if (match !== undefined) {
          found++;
          nmes.push(faceNme(match.landmarks, truth));
        }
        if (centre !== undefined && centre !== match) wrongCentre++;
      }
      options.onProgress?.(++done, paths.length);
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const seconds = (performance.now() - t0) / 1000;
  // A photo without a face: its pairs get the largest squared distance.
  const d = Float64Array.from(pairs, (pair) => {
    const a = embeddings.get(pair.a);
    const b = embeddings.get(pair.b);
    return a && b ? squaredL2Normalised(a, b) : 4;
  });
  nmes.sort((a, b) => a - b);
  return {
    flip: options.flip,
    pairs: pairs.length,
    images: paths.length,
    embedSeconds: seconds,
    ...scorePairs(pairs, d, options.far),
    detection: {
      images: paths.length,
      found,
      noFace,
      wrongCentreFace: wrongCentre,
      nme: nmes.reduce((a, b) => a + b, 0) / Math.max(1, nmes.length),
      nmeP95: nmes.length ? nmes[Math.min(nmes.length - 1, Math.floor(nmes.length * 0.95))]! : NaN,
      facesPerImage: faces / Math.max(1, paths.length),
    },
  };
}

/** One line on the detector's score. */
export function formatDetection(s: DetectionScore): string {
  const pct = (v: number) => `${(v * 100).toFixed(2)}%`;
  return `  detection: annotated face found in ${s.found}/${s.images} images (${pct(s.found / s.images)}), ` +
    `no face in ${s.noFace}, centre face not the annotated one in ${s.wrongCentreFace}; ` +
    `NME ${s.nme.toFixed(4)} (p95 ${s.nmeP95.toFixed(4)}); ${s.facesPerImage.toFixed(3)} faces per image`;
}
