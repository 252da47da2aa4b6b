// The LFW protocol code of mfn-eval on synthetic data: pairs/landmark parsing,
// fold split, threshold selection (strict d < t, first best on ties, chosen
// on the other folds), accuracy, population std, TAR@FAR, ROC. The seeded
// 6,000-pair case is checked against numbers from the insightface
// calculate_roc algorithm run in numpy on the same distances.
import { describe, expect, it } from "vitest";
import { pairDistances, scorePairs } from "../src/eval/evaluate.js";
import { distinctImages, imagePath, parseFoldSelection, parseLandmarks, parsePairs, type Pair } from "../src/eval/pairs.js";
import {
  bestThresholdIndex,
  confusionAt,
  crossValidate,
  distanceToCosine,
  meanStd,
  median,
  rocCurve,
  squaredL2Normalised,
  tarAtFar,
  THRESHOLDS,
} from "../src/eval/protocol.js";
import { renderRocSvg, thinRoc } from "../src/eval/roc.js";

/** mulberry32: a tiny seeded generator, reproduced bit for bit in the numpy reference. */
function mulberry32(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** 10 folds x (300 same + 300 different); same ~ U(0.6, 1.8), different ~ U(1.4, 2.6). */
function syntheticProtocol() {
  const next = mulberry32(12345);
  const dist = new Float64Array(6000);
  const same: boolean[] = [];
  const fold: number[] = [];
  for (let i = 0; i < 6000; i++) {
    const s = i % 600 < 300;
    const u = next();
    dist[i] = s ? 0.6 + 1.2 * u : 1.4 + 1.2 * u;
    same.push(s);
    fold.push(Math.floor(i / 600));
  }
  return { dist, same, fold };
}

function pairsText(folds: number, perHalf: number): string {
  const lines = [`${folds}\t${perHalf}`];
  for (let f = 0; f < folds; f++) {
    for (let k = 0; k < perHalf; k++) lines.push(`S${f}_${k}\t1\t2`);
    for (let k = 0; k < perHalf; k++) lines.push(`A${f}_${k}\t1\tB${f}_${k}\t3`);
  }
  return lines.join("\n") + "\n";
}

describe("pairs.txt", () => {
  it("names images like LFW", () => {
    expect(imagePath("Zico", 2)).toBe("Zico/Zico_0002.jpg");
    expect(imagePath("A_B", 1234)).toBe("A_B/A_B_1234.jpg");
  });

  it("splits into contiguous folds of same-then-different pairs", () => {
    const p = parsePairs(pairsText(10, 300));
    expect(p.folds).toBe(10);
    expect(p.foldSize).toBe(600);
    expect(p.pairs).toHaveLength(6000);
    for (let i = 0; i < 6000; i++) {
      expect(p.pairs[i]!.fold).toBe(Math.floor(i / 600));
      expect(p.pairs[i]!.same).toBe(i % 600 < 300);
    }
    expect(p.pairs[0]).toEqual({ a: "S0_0/S0_0_0001.jpg", b: "S0_0/S0_0_0002.jpg", same: true, fold: 0 });
    expect(p.pairs[5999]).toEqual({ a: "A9_299/A9_299_0001.jpg", b: "B9_299/B9_299_0003.jpg", same: false, fold: 9 });
  });

  it("reads a one-number header as one fold and accepts CRLF", () => {
    const p = parsePairs("2\r\nX\t1\t2\r\nY\t1\t3\r\nX\t1\tY\t1\r\nY\t2\tX\t2\r\n");
    expect(p.folds).toBe(1);
    expect(p.pairs.map((x) => x.same)).toEqual([true, true, false, false]);
  });

  it("rejects malformed files with the line number", () => {
    expect(() => parsePairs("")).toThrow(/empty/);
    expect(() => parsePairs("ten 300\n")).toThrow(/line 1/);
    expect(() => parsePairs("1\t1\nX\t1\t2\n")).toThrow(/promises 2 pairs/);
    expect(() => parsePairs("1\t1\nX\t1\t2\nX\t1\n")).toThrow(/line 3/);
    expect(() => parsePairs("1\t1\nX\t0\t2\nX\t1\tY\t1\n")).toThrow(/line 2: bad image number "0"/);
  });

  it("lists distinct images in first-use order", () => {
    const pairs: Pair[] = [
      { a: "x", b: "y", same: true, fold: 0 },
      { a: "y", b: "z", same: false, fold: 0 },
    ];
    expect(distinctImages(pairs)).toEqual(["x", "y", "z"]);
  });
});

describe("landmark file", () => {
  it("reads five [x, y] points per path", () => {
    const m = parseLandmarks("A/A_0001.jpg\t105.08\t108.66\t144.99\t108.41\t125.59\t137.97\t109.01\t155.94\t142.54\t155.51\n\n");
    expect(m.get("A/A_0001.jpg")).toEqual([
      [105.08, 108.66],
      [144.99, 108.41],
      [125.59, 137.97],
      [109.01, 155.94],
      [142.54, 155.51],
    ]);
  });

  it("rejects short or non-numeric lines", () => {
    expect(() => parseLandmarks("A 1 2 3\n")).toThrow(/line 1/);
    expect(() => parseLandmarks("A 1 2 3 4 5 6 7 8 9 x\n")).toThrow(/line 1/);
  });
});

describe("--folds", () => {
  it("reads ranges and lists as 0-based folds", () => {
    expect(parseFoldSelection("1-10", 10)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(parseFoldSelection("2,1", 10)).toEqual([0, 1]);
    expect(parseFoldSelection("1-3,7,3", 10)).toEqual([0, 1, 2, 6]);
  });

  it("rejects folds outside the file and bad syntax", () => {
    expect(() => parseFoldSelection("0-2", 10)).toThrow(/outside 1-10/);
    expect(() => parseFoldSelection("11", 10)).toThrow(/outside/);
    expect(() => parseFoldSelection("3-1", 10)).toThrow(/outside/);
    expect(() => parseFoldSelection("a", 10)).toThrow(/cannot read/);
  });
});

describe("distances and thresholds", () => {
  it("sweeps numpy.arange(0, 4, 0.01)", () => {
    expect(THRESHOLDS).toHaveLength(400);
    expect(THRESHOLDS[0]).toBe(0);
    expect(THRESHOLDS[1]).toBe(0.01);
    expect(THRESHOLDS[399]).toBe(399 * 0.01);
  });

  it("is the squared L2 of normalised vectors: 2 - 2 cos, whatever the lengths", () => {
    const a = new Float32Array([3, 0, 0]);
    const b = new Float32Array([1, 1, 0]);
    const cos = Math.SQRT1_2;
    expect(squaredL2Normalised(a, b)).toBeCloseTo(2 - 2 * cos, 6);
    expect(distanceToCosine(squaredL2Normalised(a, b))).toBeCloseTo(cos, 6);
    expect(squaredL2Normalised(a, new Float32Array([-1, 0, 0]))).toBeCloseTo(4, 12);
    expect(() => squaredL2Normalised(a, new Float32Array(2))).toThrow(/sizes differ/);
  });

  it("predicts same only when d < threshold", () => {
    expect(confusionAt(0.5, [0.5, 0.49], [true, true], [0, 1])).toEqual({ tp: 1, fp: 0, tn: 0, fn: 1 });
    expect(confusionAt(0.5, [0.5, 0.49], [false, false], [0, 1])).toEqual({ tp: 0, fp: 1, tn: 1, fn: 0 });
  });

  it("takes the first (lowest) of equally good thresholds", () => {
    // Any threshold in (0.2, 1.0] separates these perfectly.
    const dist = [0.1, 0.2, 1.0, 1.1];
    const same = [true, true, false, false];
    expect(THRESHOLDS[bestThresholdIndex(THRESHOLDS, dist, same, [0, 1, 2, 3])]).toBe(0.21);
    // Only the pairs listed count.
    expect(THRESHOLDS[bestThresholdIndex(THRESHOLDS, dist, same, [0, 2, 3])]).toBe(0.11);
  });
});

describe("cross-validation", () => {
  it("chooses each fold's threshold on the other folds", () => {
    // Fold 0 separates perfectly for t in (0.505, 1.5]; fold 1 gets 3/4 at best,
    // first at t in (0.5, 1.0].
    const dist = [0.5, 0.505, 1.5, 1.6, 0.5, 1.2, 1.0, 1.6];
    const same = [true, true, false, false, true, true, false, false];
    const fold = [0, 0, 0, 0, 1, 1, 1, 1];
    const cv = crossValidate(dist, same, fold);
    expect(cv.folds.map((f) => f.threshold)).toEqual([0.51, 0.51]);
    expect(cv.folds.map((f) => f.trainAccuracy)).toEqual([0.75, 1]);
    expect(cv.folds.map((f) => f.accuracy)).toEqual([1, 0.75]);
    expect(cv.folds[1]!.confusion).toEqual({ tp: 1, fp: 0, tn: 2, fn: 1 });
    expect(cv.accuracy.mean).toBe(0.875);
    expect(cv.accuracy.std).toBe(0.125); // population std; the sample std would be 0.177
    expect(cv.folds[0]!.cosine).toBeCloseTo(1 - 0.51 / 2, 12);
    expect(cv.cosineThreshold.median).toBeCloseTo(0.745, 12);
  });

  it("uses only the folds present, in fold order", () => {
    const { dist, same, fold } = syntheticProtocol();
    const keep = [...dist.keys()].filter((i) => fold[i] === 3 || fold[i] === 7);
    const cv = crossValidate(keep.map((i) => dist[i]!), keep.map((i) => same[i]!), keep.map((i) => fold[i]!));
    expect(cv.folds.map((f) => f.fold)).toEqual([3, 7]);
    expect(cv.folds.map((f) => f.pairs)).toEqual([600, 600]);
  });

  it("needs two folds and finite distances", () => {
    expect(() => crossValidate([1, 2], [true, false], [0, 0])).toThrow(/two folds/);
    expect(() => crossValidate([NaN, 2], [true, false], [0, 1])).toThrow(/not finite/);
    expect(() => crossValidate([1], [true, false], [0, 1])).toThrow(/same length/);
  });

  it("matches the insightface numpy code on a seeded 6,000-pair set", () => {
    const { dist, same, fold } = syntheticProtocol();
    expect(dist[0]).toBeCloseTo(1.77567392, 8);
    expect(dist[300]).toBeCloseTo(1.44690088, 8);
    const cv = crossValidate(dist, same, fold);
    expect(cv.folds.map((f) => f.threshold)).toEqual([1.79, 1.8, 1.79, 1.79, 1.79, 1.8, 1.79, 1.79, 1.8, 1.79].map((t) => Math.round(t * 100) * 0.01));
    expect(cv.folds.map((f) => Math.round(f.accuracy * 600))).toEqual([508, 499, 504, 502, 513, 509, 507, 502, 504, 509]);
    expect(cv.accuracy.mean).toBeCloseTo(0.8428333333333333, 12);
    expect(cv.accuracy.std).toBeCloseTo(0.006668749674580859, 12);
  });
});

describe("TAR@FAR and ROC", () => {
  it("accepts at most floor(FAR x impostors) impostors", () => {
    // 2,000 impostors at 1.000, 1.001, ...; genuine pairs straddle the threshold.
    const impostors = Array.from({ length: 2000 }, (_, i) => 1 + i / 1000);
    const genuine = [0.5, 1.0, 1.0015, 1.002, 1.5];
    const dist = [...genuine, ...impostors];
    const same = [...genuine.map(() => true), ...impostors.map(() => false)];
    const r = tarAtFar(dist, same, 1e-3);
    expect(r.threshold).toBe(1.002);
    expect(r.impostorsAccepted).toBe(2);
    expect(r.achievedFar).toBe(0.001);
    expect(r.tar).toBe(3 / 5);
    expect(r.cosine).toBeCloseTo(1 - 1.002 / 2, 12);
    expect(() => tarAtFar([1], [true], 1e-3)).toThrow(/both/);
    expect(() => tarAtFar([1, 2], [true, false], 0)).toThrow(/FAR/);
  });

  it("traces the ROC from (0, 0) to (1, 1), tied distances together", () => {
    const roc = rocCurve([0.1, 0.3, 0.3, 0.9], [true, true, false, false]);
    expect(roc).toEqual([
      { far: 0, tar: 0 },
      { far: 0, tar: 0.5 },
      { far: 0.5, tar: 1 },
      { far: 1, tar: 1 },
    ]);
  });

  it("thins the ROC for a log axis and draws an SVG", () => {
    const { dist, same } = syntheticProtocol();
    const roc = rocCurve(dist, same);
    const thin = thinRoc(roc);
    expect(thin.length).toBeLessThan(roc.length);
    expect(thin.every((p) => p.far > 0)).toBe(true);
    expect(thin[thin.length - 1]).toEqual({ far: 1, tar: 1 });
    for (let i = 1; i < thin.length; i++) {
      expect(thin[i]!.far).toBeGreaterThanOrEqual(thin[i - 1]!.far);
      expect(thin[i]!.tar).toBeGreaterThanOrEqual(thin[i - 1]!.tar);
    }
    const svg = renderRocSvg([{ label: "a & b", points: roc, marker: { far: 1e-3, tar: 0.5 } }], "LFW <test>", "sub");
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg).toContain("LFW &lt;test&gt;");
    expect(svg).toContain("a &amp; b");
    expect(svg.match(/<path /g)).toHaveLength(1);
    expect(svg).not.toMatch(/NaN|Infinity/);
  });
});

describe("statistics and scoring", () => {
  it("reports numpy-style mean, population std and median", () => {
    expect(meanStd([0.99, 1])).toEqual({ mean: 0.995, std: expect.closeTo(0.005, 12) as unknown as number });
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
  });

  it("scores pairs from embeddings", () => {
    const e = (...v: number[]) => new Float32Array(v);
    const emb = new Map([
      ["a", e(1, 0)],
      ["a2", e(2, 0.2)],
      ["b", e(0, 1)],
      ["b2", e(0.1, 3)],
    ]);
    const pairs: Pair[] = [
      { a: "a", b: "a2", same: true, fold: 0 },
      { a: "a", b: "b", same: false, fold: 0 },
      { a: "b", b: "b2", same: true, fold: 1 },
      { a: "a2", b: "b2", same: false, fold: 1 },
    ];
    const dist = pairDistances(pairs, emb);
    expect(dist[1]).toBeCloseTo(2, 6);
    const s = scorePairs(pairs, dist, 0.4);
    expect(s.crossValidation.accuracy.mean).toBe(1);
    expect(s.tarAtFar.tar).toBe(1);
    expect(() => pairDistances([{ a: "a", b: "zz", same: true, fold: 0 }], emb)).toThrow(/missing embedding for zz/);
  });
});
