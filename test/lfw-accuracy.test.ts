// LFW accuracy of the real engine (CPU backend) on folds 1-2 of pairs.txt
// (1,200 pairs, 1,583 images), with flip, through the same embedding and
// protocol code as mfn-eval: each fold's threshold is chosen on the other.
// The full 6,000-pair run is `mfn-eval` (bench/results/lfw-cpu.json).
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmbedder, type Embedder } from "../src/index.js";
import { evaluatePairs } from "../src/eval/evaluate.js";
import { distinctImages, parseLandmarks, parsePairs } from "../src/eval/pairs.js";

const lfw = resolve(import.meta.dirname, "..", "..", "shared", "data", "lfw");
const hasLfw = existsSync(join(lfw, "pairs.txt"));

describe.skipIf(!hasLfw)("LFW accuracy, folds 1-2, CPU", () => {
  let mfn: Embedder;

  beforeAll(async () => {
    mfn = await createEmbedder({ backend: "cpu" });
  });

  afterAll(async () => {
    await mfn?.dispose();
  });

  it("is at least 99.0% with flip (ONNX Runtime FP32: 99.58% on these folds)", { timeout: 300_000 }, async () => {
    const pairs = parsePairs(readFileSync(join(lfw, "pairs.txt"), "utf8")).pairs.filter((p) => p.fold < 2);
    const landmarks = parseLandmarks(readFileSync(join(lfw, "lfw_landmark_deepfunneled.txt"), "utf8"));
    const paths = distinctImages(pairs);
    expect(pairs).toHaveLength(1200);
    expect(paths).toHaveLength(1583);

    const r = await evaluatePairs(mfn, pairs, paths, { imagesDir: join(lfw, "lfw-deepfunneled"), landmarks, flip: true, batch: 64, far: 1e-3 });
    const cv = r.crossValidation;
    const summary = `accuracy ${(cv.accuracy.mean * 100).toFixed(2)}% (folds ${cv.folds.map((f) => (f.accuracy * 100).toFixed(2)).join(", ")}), thresholds ${cv.folds.map((f) => f.threshold.toFixed(2)).join(", ")}, TAR@FAR=1e-3 ${(r.tarAtFar.tar * 100).toFixed(2)}%, ${(r.images / r.embedSeconds).toFixed(1)} images/s`;
    console.log(summary);
    expect(cv.folds.map((f) => f.pairs)).toEqual([600, 600]);
    expect(cv.accuracy.mean, summary).toBeGreaterThanOrEqual(0.99);
    // Thresholds chosen on one fold stay in the band of this model (cos ~0.2-0.35).
    for (const f of cv.folds) expect(f.threshold, summary).toBeGreaterThan(1.2);
    for (const f of cv.folds) expect(f.threshold, summary).toBeLessThan(1.6);
  });
});
