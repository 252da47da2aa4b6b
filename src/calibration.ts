// Decision thresholds for verify().

/**
 * Cosine similarity at or above which verify() reports two faces as the same
 * person (bundled MobileFaceNet, flip on, faces aligned with landmarks).
 *
 * PROVISIONAL: the best single threshold over all 6,000 LFW pairs
 * (pairs.txt, 99.48% accuracy there; 0.25 to 0.30 are within 0.2 points),
 * chosen on the same pairs it was measured on. The tenfold LFW calibration
 * (threshold chosen on nine folds, tested on the tenth) will replace it.
 * Pass `threshold` to verify() where the operating point matters.
 */
export const DEFAULT_VERIFY_THRESHOLD = 0.27;
