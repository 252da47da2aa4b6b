// The LFW data shared by the test suites, read in place (never copied):
// <repo>/../shared/data/lfw, or MFN_LFW_DIR.
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { type FivePoints, type Pair, parseLandmarks, parsePairs } from "../../src/eval/pairs.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

export const LFW_DIR = process.env.MFN_LFW_DIR ?? resolve(repoRoot, "..", "shared", "data", "lfw");
export const LFW_IMAGES = join(LFW_DIR, "lfw-deepfunneled");
export const hasLfw = existsSync(join(LFW_DIR, "pairs_images.txt")) && existsSync(LFW_IMAGES);

/** Every image that pairs.txt uses, e.g. "Zico/Zico_0001.jpg", in file order. */
export function pairImages(): string[] {
  return readFileSync(join(LFW_DIR, "pairs_images.txt"), "utf8").split(/\r?\n/).filter((line) => line.trim() !== "");
}

/** `count` images spread evenly over pairs_images.txt (a fixed, reproducible choice). */
export function imageSpread(count: number): string[] {
  const all = pairImages();
  const step = all.length / count;
  return Array.from({ length: count }, (_, i) => all[Math.floor(i * step)]!);
}

export function readImage(path: string): Buffer {
  return readFileSync(join(LFW_IMAGES, path));
}

export function pairs(): Pair[] {
  return parsePairs(readFileSync(join(LFW_DIR, "pairs.txt"), "utf8")).pairs;
}

let landmarkCache: Map<string, FivePoints> | undefined;

/** The five landmarks of an LFW image (lfw_landmark_deepfunneled.txt). */
export function landmarksOf(path: string): FivePoints {
  landmarkCache ??= parseLandmarks(readFileSync(join(LFW_DIR, "lfw_landmark_deepfunneled.txt"), "utf8"));
  const points = landmarkCache.get(path);
  if (points === undefined) throw new Error(`no landmarks for ${path}`);
  return points;
}
