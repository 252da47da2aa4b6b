// Decision thresholds for verify().

/**
 * Cosine similarity at or above which verify() reports two faces as the same
 * person (flip on, aligned 112x112 crops).
 *
 * PROVISIONAL: a first estimate from a few hundred LFW pairs (pairs.txt),
 * not yet the tenfold LFW calibration that will replace it. Pass
 * `threshold` to verify() where the operating point matters.
 */
export const DEFAULT_VERIFY_THRESHOLD = 0.35;
