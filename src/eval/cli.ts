#!/usr/bin/env node
// mfn-eval: face-verification accuracy on an LFW-format pairs file with the
// insightface protocol (10-fold cross-validated accuracy, TAR@FAR, ROC).
// Embeds every distinct image once per flip setting through the public API.
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import cliProgress from "cli-progress";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import sharp from "sharp";
import { createEmbedder } from "../index.js";
import { evaluatePairs, type FlipResult } from "./evaluate.js";
import { evaluateFromPhotos, formatDetection, type DetectFlipResult } from "./detect.js";
import { distinctImages, parseFoldSelection, parseLandmarks, parsePairs } from "./pairs.js";
import { machineLine } from "../bench/machine.js";
import { buildReport, environment, formatResult, rocTitle } from "./report.js";
import { renderRocSvg } from "./roc.js";

// LFW photos are 250x250; --detect uses the face nearest their centre.
const LFW_SIZE = { width: 250, height: 250 };

// dist/eval/cli.js and src/eval/cli.ts both sit two levels below the package root.
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

/** Bad options or a fold selection the protocol cannot use: exit code 2. */
class UsageError extends Error {}
const EXIT_USAGE = 2;

function positiveInt(name: string, min: number) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer >= ${min}`);
    return n;
  };
}

function probability(v: string): number {
  const n = Number(v);
  if (!(n > 0 && n < 1)) throw new InvalidArgumentError("must be a number in (0, 1)");
  return n;
}

const program = new Command("mfn-eval")
  .description("LFW-protocol face-verification accuracy of the mfn engine (insightface 10-fold protocol)")
  .option("--lfw <dir>", "LFW folder (pairs.txt, lfw-deepfunneled/, lfw_landmark_deepfunneled.txt)", resolve(repoRoot, "..", "shared", "data", "lfw"))
  .option("--pairs <file>", "pairs file (default <lfw>/pairs.txt)")
  .option("--images <dir>", "image folder (default <lfw>/lfw-deepfunneled)")
  .option("--landmarks <file>", "5-point landmark file (default <lfw>/lfw_landmark_deepfunneled.txt)")
  .option("--folds <list>", "folds to use, 1-based: 1-10, 1,2, 1-3,7 (default all)")
  .addOption(new Option("--flip <mode>", "embed with the mirrored image added").choices(["on", "off", "both"]).default("both"))
  .addOption(new Option("--backend <name>", "engine backend").choices(["auto", "cpu", "cuda"]).default("auto"))
  .option("--threads <n>", "CPU threads, 0 = all cores", positiveInt("--threads", 0), 0)
  .option("--batch <n>", "images per embedBatch call", positiveInt("--batch", 1), 64)
  .option("--far <rate>", "false accept rate for TAR@FAR", probability, 1e-3)
  .option("--detect", "from the raw photos: embedFaces (detect + align + embed); the landmark file only scores the detector")
  .option("--concurrency <n>", "--detect: photos in flight at once", positiveInt("--concurrency", 1), 4)
  .option("--json <file>", "write the full results as JSON")
  .option("--roc <file>", "write the ROC curve(s) as SVG")
  .addHelpText("after", "\nExit codes: 0 done, 1 failed (files, engine), 2 bad options.")
  .showHelpAfterError()
  .exitOverride();

interface Options {
  lfw: string;
  pairs?: string;
  images?: string;
  landmarks?: string;
  folds?: string;
  flip: "on" | "off" | "both";
  backend: "auto" | "cpu" | "cuda";
  threads: number;
  batch: number;
  far: number;
  json?: string;
  roc?: string;
  detect?: boolean;
  concurrency: number;
}

async function main(): Promise<void> {
  program.parse(); // throws CommanderError (after printing) on bad options and --help
  const o = program.opts<Options>();
  const pairsFile = resolve(o.pairs ?? resolve(o.lfw, "pairs.txt"));
  const imagesDir = resolve(o.images ?? resolve(o.lfw, "lfw-deepfunneled"));
  const landmarksFile = resolve(o.landmarks ?? resolve(o.lfw, "lfw_landmark_deepfunneled.txt"));

  const protocol = parsePairs(readFileSync(pairsFile, "utf8"));
  const landmarks = parseLandmarks(readFileSync(landmarksFile, "utf8"));
  let folds: number[];
  try {
    folds = o.folds === undefined ? [...Array(protocol.folds).keys()] : parseFoldSelection(o.folds, protocol.folds);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (folds.length < 2) throw new UsageError("--folds: choose at least two folds: each fold's threshold is chosen on the other folds");
  const pairs = protocol.pairs.filter((p) => folds.includes(p.fold));
  const paths = distinctImages(pairs);
  const missing = paths.filter((p) => !landmarks.has(p));
  if (missing.length > 0) throw new Error(`${missing.length} images have no landmarks in ${landmarksFile}, e.g. ${missing[0]}`);

  const embedder = await createEmbedder({ backend: o.backend, flip: o.flip !== "off", threads: o.threads });
  const results: FlipResult[] = [];
  try {
    const backendNote = embedder.fallbackReason ? ` (not cuda: ${embedder.fallbackReason})` : "";
    console.log(`backend ${embedder.backend}${backendNote}; ${pairs.length} pairs in folds ${folds.map((f) => f + 1).join(",")}; ${paths.length} images`);
    for (const flip of o.flip === "both" ? [true, false] : [o.flip === "on"]) {
      const bar = process.stderr.isTTY
        ? new cliProgress.SingleBar({ format: `flip ${flip ? "on " : "off"} [{bar}] {value}/{total} images  {eta}s left`, hideCursor: true }, cliProgress.Presets.shades_classic)
        : undefined;
      bar?.start(paths.length, 0);
      const onProgress = (done: number) => bar?.update(done);
      const r: FlipResult | DetectFlipResult = await (o.detect
        ? evaluateFromPhotos(embedder, pairs, paths, {
          imagesDir, landmarks, flip, far: o.far, concurrency: o.concurrency, imageSize: LFW_SIZE, onProgress,
        })
        : evaluatePairs(embedder, pairs, paths, { imagesDir, landmarks, flip, batch: o.batch, far: o.far, onProgress })
      ).finally(() => bar?.stop());
      console.log(formatResult(r));
      if ("detection" in r) console.log(formatDetection((r as DetectFlipResult).detection));
      results.push(r);
    }

    const env = environment(repoRoot, { sharp: sharp.versions.sharp ?? "unknown", vips: sharp.versions.vips });
    if (o.json) {
      const report = buildReport(
        env,
        {
          command: ["mfn-eval", ...process.argv.slice(2)].join(" "),
          pairsFile,
          imagesDir,
          landmarksFile,
          folds: folds.map((f) => f + 1),
          flip: o.flip,
          backendRequested: o.backend,
          threads: o.threads,
          batch: o.batch,
          far: o.far,
          ...(o.detect ? { detect: true, concurrency: o.concurrency } : {}),
        },
        { name: embedder.backend, fallbackReason: embedder.fallbackReason ?? null },
        results,
      );
      writeFileSync(o.json, JSON.stringify(report, null, 2) + "\n");
      console.log(`wrote ${o.json}`);
    }
    if (o.roc) {
      const series = results.map((r) => ({
        label: `flip ${r.flip ? "on" : "off"}: TAR ${(r.tarAtFar.tar * 100).toFixed(2)}% at FAR ${r.tarAtFar.far.toExponential(0)}`,
        points: r.roc,
        marker: { far: r.tarAtFar.far, tar: r.tarAtFar.tar },
      }));
      const subtitle = `insightface protocol, folds ${folds.map((f) => f + 1).join(",")}; ${machineLine(env.machine)}; commit ${env.commit.commit?.slice(0, 10) ?? "unknown"}${env.commit.dirty ? " (modified)" : ""}`;
      writeFileSync(o.roc, renderRocSvg(series, rocTitle(results, embedder.backend), subtitle));
      console.log(`wrote ${o.roc}`);
    }
  } finally {
    await embedder.dispose();
  }
}

main().catch((err: unknown) => {
  if (err instanceof CommanderError) {
    // commander has printed the message or the help.
    process.exitCode = err.exitCode === 0 ? 0 : EXIT_USAGE;
    return;
  }
  const e = err as { code?: string; message?: string };
  console.error(`mfn-eval: ${e.code?.startsWith("MFN_") ? `${e.code}: ` : ""}${e.message ?? String(err)}`);
  process.exitCode = err instanceof UsageError ? EXIT_USAGE : 1;
});
