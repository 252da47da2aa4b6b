// What mfn-eval prints and writes: the per-fold table, the summary line and
// the JSON record (machine, backend, versions, commit, settings, results).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { machineInfo, sourceInfo, versions, type MachineInfo, type SourceInfo } from "../bench/machine.js";
import type { FlipResult } from "./evaluate.js";

export interface Environment {
  machine: MachineInfo;
  versions: Record<string, string>;
  commit: SourceInfo;
}

/** Machine, versions (mfn, Node, the model's sha256, extras) and git commit. */
export function environment(repoRoot: string, extraVersions: Record<string, string> = {}): Environment {
  const { mfn, node } = versions(repoRoot);
  let model = "unknown";
  try {
    model = (JSON.parse(readFileSync(join(repoRoot, "models", "manifest.json"), "utf8")) as { sha256: string }).sha256;
  } catch {
    // Left as "unknown" (a custom model layout); the rest of the record still holds.
  }
  return { machine: machineInfo(), versions: { mfn, node, modelSha256: model, ...extraVersions }, commit: sourceInfo(repoRoot) };
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
  /** --detect: from the raw photos through embedFaces. */
  detect?: boolean;
  concurrency?: number;
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
      ...("detection" in r ? { detection: r.detection } : {}),
    })),
  };
}

function round(v: number, digits: number): number {
  const s = 10 ** digits;
  return Math.round(v * s) / s;
}

/** The ROC chart title: the accuracies of every setting evaluated. */
export function rocTitle(results: readonly FlipResult[], backend: string): string {
  const acc = results.map((r) => `${flipLabel(r.flip)} ${pct(r.crossValidation.accuracy.mean)} \u00b1 ${(r.crossValidation.accuracy.std * 100).toFixed(2)}`);
  return `MobileFaceNet on LFW (${results[0]?.pairs ?? 0} pairs, ${backend}): ${acc.join(", ")}`;
}
