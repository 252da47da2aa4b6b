// The insightface LFW verification protocol (verification.py, calculate_roc /
// calculate_accuracy), reproduced exactly so that numbers compare with the
// published ones:
// - embeddings L2-normalised, distance = squared L2 (0..4; for unit vectors
//   d = 2 - 2 cos);
// - a pair is predicted "same" when d < threshold (strict);
// - thresholds 0, 0.01, ..., 3.99;
// - k-fold cross-validation over contiguous folds: on each fold the threshold
//   with the best accuracy on the other folds (first maximum = lowest
//   threshold on ties), accuracy measured on the held-out fold;
// - mean and population standard deviation (numpy std) over folds.
// Plus TAR at a fixed FAR from the impostor distances of all pairs, and the
// full ROC for plotting. Pure functions; no I/O.

/** numpy.arange(0, 4, 0.01): 400 thresholds, each i * 0.01. */
export const THRESHOLDS: Float64Array = Float64Array.from({ length: 400 }, (_, i) => i * 0.01);

/** Squared L2 distance between the L2-normalised copies of a and b. */
export function squaredL2Normalised(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`embedding sizes differ: ${a.length} vs ${b.length}`);
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  // sklearn.preprocessing.normalize leaves a zero vector at zero.
  const sa = na > 0 ? 1 / Math.sqrt(na) : 0;
  const sb = nb > 0 ? 1 / Math.sqrt(nb) : 0;
  let d = 0;
  for (let i = 0; i < a.length; i++) {
    const diff = a[i]! * sa - b[i]! * sb;
    d += diff * diff;
  }
  return d;
}

/** For unit vectors, d = |a - b|^2 = 2 - 2 cos. */
export function distanceToCosine(d: number): number {
  return 1 - d / 2;
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

/** Confusion counts over pairs `idx` at `threshold` (same when d < threshold). */
export function confusionAt(threshold: number, dist: ArrayLike<number>, same: ArrayLike<boolean>, idx: readonly number[]): Confusion {
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (const i of idx) {
    const predicted = dist[i]! < threshold;
    if (predicted) {
      if (same[i]) c.tp++;
      else c.fp++;
    } else if (same[i]) c.fn++;
    else c.tn++;
  }
  return c;
}

/**
 * Index of the threshold with the most correct decisions over `idx`; the first
 * (lowest) one on ties, like numpy.argmax. Counts are compared, not ratios,
 * so ties are exact.
 */
export function bestThresholdIndex(thresholds: ArrayLike<number>, dist: ArrayLike<number>, same: ArrayLike<boolean>, idx: readonly number[]): number {
  let best = 0;
  let bestCorrect = -1;
  for (let t = 0; t < thresholds.length; t++) {
    const c = confusionAt(thresholds[t]!, dist, same, idx);
    if (c.tp + c.tn > bestCorrect) {
      bestCorrect = c.tp + c.tn;
      best = t;
    }
  }
  return best;
}

export interface FoldResult {
  /** 0-based fold index as in the pairs file. */
  fold: number;
  pairs: number;
  /** Chosen on the other folds, squared-L2 units. */
  threshold: number;
  /** The same threshold as a cosine similarity. */
  cosine: number;
  trainAccuracy: number;
  accuracy: number;
  confusion: Confusion;
}

export interface MeanStd {
  mean: number;
  /** Population standard deviation (numpy.std, ddof = 0). */
  std: number;
}

export function meanStd(xs: readonly number[]): MeanStd {
  if (xs.length === 0) return { mean: NaN, std: NaN };
  const mean = xs.reduce((s, x) => s + x, 0) / xs.length;
  const variance = xs.reduce((s, x) => s + (x - mean) * (x - mean), 0) / xs.length;
  return { mean, std: Math.sqrt(variance) };
}

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export interface CrossValidation {
  folds: FoldResult[];
  accuracy: MeanStd;
  /** Statistics of the chosen thresholds, as cosine similarities. */
  cosineThreshold: { median: number; mean: number; min: number; max: number };
}

/**
 * Cross-validates over the distinct values of `foldOf` (each pair's fold):
 * for every fold, the threshold is chosen on all the other folds present and
 * applied to it. Needs at least two folds.
 */
export function crossValidate(
  dist: ArrayLike<number>,
  same: ArrayLike<boolean>,
  foldOf: ArrayLike<number>,
  thresholds: ArrayLike<number> = THRESHOLDS,
): CrossValidation {
  const n = dist.length;
  if (same.length !== n || foldOf.length !== n) throw new Error("dist, same and foldOf must have the same length");
  const members = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(dist[i]!)) throw new Error(`pair ${i}: distance is not finite`);
    const list = members.get(foldOf[i]!) ?? [];
    list.push(i);
    members.set(foldOf[i]!, list);
  }
  const foldIds = [...members.keys()].sort((x, y) => x - y);
  if (foldIds.length < 2) throw new Error("cross-validation needs at least two folds (the threshold is chosen on the others)");

  const folds = foldIds.map((fold): FoldResult => {
    const test = members.get(fold)!;
    const train = foldIds.filter((f) => f !== fold).flatMap((f) => members.get(f)!);
    const t = bestThresholdIndex(thresholds, dist, same, train);
    const threshold = thresholds[t]!;
    const trainC = confusionAt(threshold, dist, same, train);
    const c = confusionAt(threshold, dist, same, test);
    return {
      fold,
      pairs: test.length,
      threshold,
      cosine: distanceToCosine(threshold),
      trainAccuracy: (trainC.tp + trainC.tn) / train.length,
      accuracy: (c.tp + c.tn) / test.length,
      confusion: c,
    };
  });
  const cosines = folds.map((f) => f.cosine);
  return {
    folds,
    accuracy: meanStd(folds.map((f) => f.accuracy)),
    cosineThreshold: { median: median(cosines), mean: meanStd(cosines).mean, min: Math.min(...cosines), max: Math.max(...cosines) },
  };
}

export interface TarAtFar {
  far: number;
  /** Squared-L2 threshold: pairs with d < threshold are accepted. */
  threshold: number;
  cosine: number;
  tar: number;
  /** The FAR actually reached (<= far). */
  achievedFar: number;
  impostorsAccepted: number;
  impostors: number;
  genuine: number;
}

/**
 * TAR at a target FAR over all given pairs. The threshold is the
 * (floor(far * impostors) + 1)-th smallest impostor distance, so with the
 * strict rule d < threshold at most floor(far * impostors) impostors are
 * accepted (fewer if distances tie at the threshold).
 */
export function tarAtFar(dist: ArrayLike<number>, same: ArrayLike<boolean>, far: number): TarAtFar {
  const impostor: number[] = [];
  const genuine: number[] = [];
  for (let i = 0; i < dist.length; i++) (same[i] ? genuine : impostor).push(dist[i]!);
  if (impostor.length === 0 || genuine.length === 0) throw new Error("TAR@FAR needs both genuine and impostor pairs");
  if (!(far > 0 && far < 1)) throw new Error(`FAR must be in (0, 1), got ${far}`);
  impostor.sort((x, y) => x - y);
  const allowed = Math.floor(far * impostor.length);
  const threshold = impostor[allowed]!;
  const accepted = impostor.filter((d) => d < threshold).length;
  const tar = genuine.filter((d) => d < threshold).length / genuine.length;
  return {
    far,
    threshold,
    cosine: distanceToCosine(threshold),
    tar,
    achievedFar: accepted / impostor.length,
    impostorsAccepted: accepted,
    impostors: impostor.length,
    genuine: genuine.length,
  };
}

export interface RocPoint {
  far: number;
  tar: number;
}

/**
 * The exact ROC over all pairs: one point per distinct distance, sweeping the
 * acceptance threshold upwards, from (0, 0) to (1, 1).
 */
export function rocCurve(dist: ArrayLike<number>, same: ArrayLike<boolean>): RocPoint[] {
  const order = Array.from({ length: dist.length }, (_, i) => i).sort((x, y) => dist[x]! - dist[y]!);
  let nGen = 0;
  for (let i = 0; i < dist.length; i++) if (same[i]) nGen++;
  const nImp = dist.length - nGen;
  const points: RocPoint[] = [{ far: 0, tar: 0 }];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k]!;
    if (same[i]) tp++;
    else fp++;
    // Emit once per distinct distance: tied pairs are accepted together.
    const next = order[k + 1];
    if (next === undefined || dist[next]! !== dist[i]!) points.push({ far: nImp ? fp / nImp : 0, tar: nGen ? tp / nGen : 0 });
  }
  return points;
}
