// The scoring rules of mfn-eval --detect (src/eval/detect.ts) on hand-made
// faces: NME over eyes, nose and mouth centre in IODs, which detection is the
// annotated face, the centre rule, and the detection counts of a whole run
// on a stub embedder.
import { describe, expect, it } from "vitest";

import type { FaceWithEmbedding } from "../src/faces.js";
import { centreFace, evaluateFromPhotos, faceNme, isAnnotatedFace } from "../src/eval/detect.js";
import type { FivePoints, Pair } from "../src/eval/pairs.js";

const truth: FivePoints = [[100, 100], [140, 100], [120, 120], [105, 140], [135, 140]];

function face(dx: number, box = { x: 80, y: 70, width: 80, height: 90 }, embedding = new Float32Array([1, 0])): FaceWithEmbedding {
  return { box, score: 0.9, landmarks: truth.map(([x, y]) => [x + dx, y] as [number, number]), embedding };
}

describe("mfn-eval --detect scoring", () => {
  it("NME is the mean of the four point errors over the inter-ocular distance", () => {
    expect(faceNme(truth, truth)).toBe(0);
    // Every point 4 px off; IOD 40: 4 / 40.
    expect(faceNme(face(4).landmarks, truth)).toBeCloseTo(0.1, 12);
    // Only the corners move, symmetrically: the mouth centre stays.
    const wide = truth.map((p, i) => (i === 3 ? [p[0] - 5, p[1]] : i === 4 ? [p[0] + 5, p[1]] : p)) as FivePoints;
    expect(faceNme(wide, truth)).toBe(0);
  });

  it("a detection is the annotated face when its box holds eyes and nose and is 1 to 4 IODs wide", () => {
    expect(isAnnotatedFace(face(0), truth)).toBe(true);
    expect(isAnnotatedFace(face(0, { x: 110, y: 70, width: 80, height: 90 }), truth)).toBe(false);  // misses an eye
    expect(isAnnotatedFace(face(0, { x: 0, y: 0, width: 250, height: 250 }), truth)).toBe(false);   // 6 IODs wide
    expect(isAnnotatedFace(face(0, { x: 95, y: 95, width: 38, height: 30 }), truth)).toBe(false);    // narrower than 1 IOD
  });

  it("the centre face is the one whose box centre is nearest the photo's centre", () => {
    const a = face(0, { x: 0, y: 0, width: 50, height: 50 });
    const b = face(0, { x: 100, y: 100, width: 60, height: 60 });
    expect(centreFace([a, b], 250, 250)).toBe(b);
    expect(centreFace([], 250, 250)).toBeUndefined();
  });

  it("scores a run: found, no face, NME", async () => {
    const photos: Record<string, FaceWithEmbedding[]> = {
      "a/a_1.jpg": [face(0, undefined, new Float32Array([1, 0]))],
      "a/a_2.jpg": [face(4, undefined, new Float32Array([0.9, 0.1]))],
      "b/b_1.jpg": [],
      "c/c_1.jpg": [face(0, undefined, new Float32Array([0, 1]))],
    };
    const order = Object.keys(photos);
    const stub = { embedFaces: async (image: Buffer) => photos[image.toString()]! };
    const pairs: Pair[] = [
      { a: "a/a_1.jpg", b: "a/a_2.jpg", same: true, fold: 0 },
      { a: "a/a_1.jpg", b: "c/c_1.jpg", same: false, fold: 0 },
      { a: "a/a_2.jpg", b: "b/b_1.jpg", same: false, fold: 1 },
      { a: "c/c_1.jpg", b: "a/a_1.jpg", same: false, fold: 1 },
    ];
    const landmarks = new Map(order.map((p) => [p, truth]));
    const result = await evaluateFromPhotos({ embedFaces: (image) => stub.embedFaces(image) }, pairs, order, {
      imagesDir: "", landmarks, flip: true, far: 0.5, concurrency: 2, imageSize: { width: 250, height: 250 },
      readImage: async (p) => Buffer.from(p),
    });
    expect(result.detection).toMatchObject({ images: 4, found: 3, noFace: 1, wrongCentreFace: 0 });
    expect(result.detection.nme).toBeCloseTo(0.1 / 3, 10);
    expect(result.pairs).toBe(4);
    expect(result.crossValidation.folds.length).toBe(2);
  });
});
