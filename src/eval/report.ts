// What mfn-eval prints and writes: the per-fold table, the summary line and
// the JSON record (machine, backend, versions, commit, settings, results).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import type { FlipResult } from "./evaluate.js";

export interface Environment {
  machine: { cpu: string; cores: number; memoryGiB: number; platform: string; arch: string; release: string };
  versions: Record<string, string>;
  commit: { sha: string; dirty: boolean } | null;
}

/** The git commit of `repoRoot`, dirty when tracked files differ from it; null outside git. */
export function gitCommit(repoRoot: string): { sha: string; dirty: boolean } | null {
  try {
    const sha = execFileSync("git", ["rev-parse", "HEAD"], { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    const status = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: repoRoot, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return { sha, dirty: status.trim() !== "" };
  } catch {
    return null;
  }
}

export function environment(repoRoot: string, extraVersions: Record<string, string> = {}): Environment {
  const cpus = os.cpus();
  let mfn = "unknown";
  try {
    mfn = JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).version;
  } catch {
    // Left as "unknown": the report is still useful without it.
  }
  return {
    machine: {
      cpu: cpus[0]?.model.trim() ?? "unknown",
      cores: os.availableParallelism(),
      memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
      platform: os.platform(),
      arch: os.arch(),
      release: os.release(),
    },
    versions: { mfn, node: process.versions.node, ...extraVersions },
    commit: gitCommit(repoRoot),
  };
}

const pct = (v: number, digits = 2) => `${(v * 100).toFixed(digits)}%`;

function flipLabel(flip: boolean): string {
  return flip ? "flip on" : "flip off";
}

/** The per-fold table and summary of one flip setting, as printed. */
export function formatResult(r: FlipResult): string {
  const cv = r.crossValidation;
  const lines = [
    `${flipLabel(r.flip)}: ${r.pairs} pairs, ${r.images} images embedded in ${r.embedSeconds.toFixed(1)} s (${(r.images / r.embedSeconds).toFixed(1)} images/s)`,
    "  fold  pairs  threshold (d^2)  threshold (cos)  train acc  accuracy",
    ...cv.folds.map(
      (f) =>
        `  ${String(f.fold + 1).padStart(4)}  ${String(f.pairs).padStart(5)}  ${f.threshold.toFixed(2).padStart(15)}  ${f.cosine.toFixed(3).padStart(15)}  ${pct(f.trainAccuracy).padStart(9)}  ${pct(f.accuracy).padStart(8)}`,
    ),
    `  accuracy ${pct(cv.accuracy.mean)} +- ${pct(cv.accuracy.std)}` +
      `   TAR@FAR=${r.tarAtFar.far.toExponential(0)} ${pct(r.tarAtFar.tar)} (cos > ${r.tarAtFar.cosine.toFixed(3)})` +
      `   threshold cos median ${cv.cosineThreshold.median.toFixed(3)} mean ${cv.cosineThreshold.mean.toFixed(4)}`,
  ];
  return lines.join("\n");
}

export interface ReportSettings {
  command: string;
  pairsFile: string;
  imagesDir: string;
  landmarksFile: string;
  /** 1-based, as given on the command line. */
  folds: number[];
  flip: "on" | "off" | "both";
  backendRequested: string;
  threads: number;
  batch: number;
  far: number;
}

export interface BackendInfo {
  name: string;
  fallbackReason: string | null;
}

/** The JSON record written by --json. */
export function buildReport(env: Environment, settings: ReportSettings, backend: BackendInfo, results: readonly FlipResult[]) {
  return {
    tool: "mfn-eval",
    date: new Date().toISOString(),
    command: settings.command,
    machine: env.machine,
    backend,
    versions: env.versions,
    commit: env.commit,
    settings: {
      ...settings,
      protocol:
        "insightface LFW: L2-normalised embeddings, squared L2 distance, same if d < t, t in 0:0.01:3.99 chosen on the other folds (first best), contiguous folds; mean and population std over folds",
    },
    results: results.map((r) => ({
      flip: r.flip,
      pairs: r.pairs,
      images: r.images,
      embedSeconds: round(r.embedSeconds, 3),
      imagesPerSecond: round(r.images / r.embedSeconds, 2),
      accuracy: r.crossValidation.accuracy,
      cosineThreshold: r.crossValidation.cosineThreshold,
      tarAtFar: r.tarAtFar,
      folds: r.crossValidation.folds.map((f) => ({ ...f, fold: f.fold + 1 })),
    })),
  };
}

function round(v: number, digits: number): number {
  const s = 10 ** digits;
  return Math.round(v * s) / s;
}

/** The ROC chart title: the accuracies of every setting evaluated. */
export function rocTitle(results: readonly FlipResult[], backend: string): string {
  const acc = results.map((r) => `${flipLabel(r.flip)} ${pct(r.crossValidation.accuracy.mean)} +- ${pct(r.crossValidation.accuracy.std)}`);
  return `MobileFaceNet on LFW, ${results[0]?.pairs ?? 0} pairs, ${backend}: ${acc.join(", ")}`;
}
