// Decision thresholds for verify().

/**
 * Cosine similarity at or above which verify() reports two faces as the same
 * person (bundled MobileFaceNet, flip on, faces aligned with landmarks).
 *
 * Calibrated on LFW with `mfn-eval --backend cpu` (bench/results/lfw-cpu.json):
 * all 6,000 pairs of pairs.txt, insightface protocol. For each of the 10 folds
 * the squared-L2 threshold (grid 0.01) with the best accuracy on the other 9
 * folds was chosen: d = 1.46 in 9 folds, 1.42 in one. For unit vectors
 * d = 2 - 2 cos, so cos = 1 - d/2: median 0.27 (mean 0.272). Held-out accuracy
 * at those thresholds: 99.45% +- 0.45 (flip off: 99.30%, median 0.26).
 * Stricter operating point: cos 0.333 accepts 0.1% of LFW impostor pairs
 * (TAR 98.63%). Pass `threshold` to verify() where the operating point matters.
 */
export const DEFAULT_VERIFY_THRESHOLD = 0.27;
