// mfn-bench detect: speed of face detection and of the whole photo ->
// embeddings pipeline on real photos, mfn against onnxruntime-node running
// the same detector file, in one process and interleaved: every round times
// each of the four variants over the same photos, `--concurrency` calls in
// flight (1: one call at a time; more: a service's concurrent requests,
// which mfn's queue batches), and the ratios are taken within a round (the
// machine's load hits both alike).
//   detect     mfn: embedder.detect(photo)        ort: peers/ort-detector.ts detect(photo)
//   pipeline   mfn: embedder.embedFaces(photo)    ort: detect(photo), then mfn embedBatch of its faces
// Photos are decoded to RGB pixels before timing (decoding is neither's work).
import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, join, resolve } from "node:path";

import { Command, CommanderError, InvalidArgumentError } from "commander";
import sharp from "sharp";

import { createEmbedder } from "../index.js";
import type { RawImage } from "../inputs.js";
import { machineInfo, machineLine, sourceInfo, versions } from "./machine.js";
import { EXIT_USAGE } from "./options.js";
import { OrtDetector } from "./peers/ort-detector.js";
import { listImages } from "./pixels.js";
import { median } from "./stats.js";

type Variant = "mfn detect" | "ort detect" | "mfn pipeline" | "ort pipeline";
const VARIANTS: Variant[] = ["mfn detect", "ort detect", "mfn pipeline", "ort pipeline"];

function positiveInt(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer`);
    return n;
  };
}

// Calls fn on every photo with `concurrency` calls in flight; the sum of
// what they return (faces).
async function eachPhoto(photos: RawImage[], concurrency: number, fn: (p: RawImage) => Promise<number>): Promise<number> {
  let next = 0;
  let total = 0;
  await Promise.all(Array.from({ length: Math.min(concurrency, photos.length) }, async () => {
    while (next < photos.length) {
      const faces = await fn(photos[next++]!);  // awaited first: `total += await` would add to a stale total
      total += faces;
    }
  }));
  return total;
}

export async function runDetectBench(argv: string[], packageRoot: string): Promise<number> {
  const program = new Command("mfn-bench detect")
    .description("detection and photo -> embeddings speed, mfn vs onnxruntime-node on the same detector, interleaved rounds")
    .option("--input <dir>", "folder of photos (searched recursively)", resolve(packageRoot, "..", "shared", "data", "lfw", "lfw-deepfunneled"))
    .option("--count <n>", "photos per round", positiveInt("--count"), 100)
    .option("--rounds <n>", "timed rounds (after one warm-up round)", positiveInt("--rounds"), 5)
    .option("--threads <n>", "threads for both engines", positiveInt("--threads"), 2)
    .option("--concurrency <n>", "calls in flight", positiveInt("--concurrency"), 1)
    .option("--json <file>", "write the results as JSON")
    .exitOverride();
  try {
    program.parse(argv, { from: "user" });
  } catch (err) {
    // commander has printed the help or the message.
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : EXIT_USAGE;
    throw err;
  }
  const o = program.opts<{ input: string; count: number; rounds: number; threads: number; concurrency: number;
    json?: string }>();
  const files = listImages(o.input, o.count);
  if (files.length === 0) throw new Error(`no photos in ${o.input}`);
  const photos: RawImage[] = await Promise.all(files.map(async (f) => {
    const { data, info } = await sharp(readFileSync(f)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: 3 as const, order: "rgb" as const };
  }));
  const ort = await import("onnxruntime-node");
  const detectorPath = join(packageRoot, "models", "blazeface_back_256.onnx");
  const manifest = JSON.parse(readFileSync(join(packageRoot, "models", "detector.json"), "utf8")) as { alignPoints: number[] };
  const embedder = await createEmbedder({ backend: "cpu", threads: o.threads, flip: true });
  const peer = await OrtDetector.open(ort, detectorPath, o.threads, manifest.alignPoints);
  const loadBefore = loadavg();
  const c = o.concurrency;
  const run: Record<Variant, () => Promise<number>> = {
    "mfn detect": () => eachPhoto(photos, c, async (p) => (await embedder.detect(p)).length),
    "ort detect": () => eachPhoto(photos, c, async (p) => (await peer.detect(ort, p)).length),
    "mfn pipeline": () => eachPhoto(photos, c, async (p) => (await embedder.embedFaces(p)).length),
    "ort pipeline": () => eachPhoto(photos, c, async (p) => {
      const faces = await peer.detect(ort, p);
      return (await embedder.embedBatch(faces.map((f) => ({ image: p, landmarks: f.landmarks })))).length;
    }),
  };
  const rates: Record<Variant, number[]> = { "mfn detect": [], "ort detect": [], "mfn pipeline": [], "ort pipeline": [] };
  const faces: Partial<Record<Variant, number>> = {};
  try {
    for (let round = 0; round <= o.rounds; round++) {
      for (const v of VARIANTS) {
        const t0 = performance.now();
        faces[v] = await run[v]();
        const seconds = (performance.now() - t0) / 1000;
        if (round > 0) rates[v].push(photos.length / seconds);
      }
    }
  } finally {
    await Promise.all([embedder.dispose(), peer.close()]);
  }
  const ratio = (a: Variant, b: Variant) => median(rates[a].map((r, i) => r / rates[b][i]!));
  const result = {
    tool: "mfn-bench detect",
    date: new Date().toISOString(),
    command: ["mfn-bench", "detect", ...argv].join(" "),
    machine: machineInfo(),
    loadAverage: { before: loadBefore, after: loadavg() },
    versions: versions(packageRoot),
    source: sourceInfo(packageRoot),
    settings: { input: o.input, photos: photos.length, size: `${photos[0]!.width}x${photos[0]!.height} (first photo)`,
      rounds: o.rounds, threads: o.threads, concurrency: c, flip: true, minScore: 0.5 },
    method: `one process, rounds interleaved (each round times the four variants in turn over the same photos, ${c} ` +
      "call(s) in flight); photos decoded to RGB before timing; ratios per round, medians over rounds",
    peer: "onnxruntime-node, CPU provider, intra-op = threads, inter-op 1, denormals flushed; letterbox with sharp, " +
      "decoding/NMS/landmarks in JavaScript; its pipeline embeds with mfn (embedBatch, flip on)",
    results: VARIANTS.map((v) => ({ variant: v, photosPerSecondMedian: median(rates[v]), photosPerSecond: rates[v],
      facesPerRound: faces[v] })),
    ratios: { detect: ratio("mfn detect", "ort detect"), pipeline: ratio("mfn pipeline", "ort pipeline") },
  };
  const m = result.machine;
  process.stdout.write(`mfn-bench detect  ${machineLine(m)}  ${o.threads} threads  ${photos.length} photos x ${o.rounds} rounds  ` +
    `${c} in flight\n`);
  for (const r of result.results) {
    process.stdout.write(`  ${r.variant.padEnd(13)} ${r.photosPerSecondMedian.toFixed(1).padStart(8)} photos/s (median)  ${r.facesPerRound} faces per round\n`);
  }
  process.stdout.write(`  mfn vs ort: detect ${result.ratios.detect.toFixed(2)}x, pipeline ${result.ratios.pipeline.toFixed(2)}x (median of per-round ratios)\n`);
  if (loadBefore[0]! > 0.5 * m.cpu.cores) {
    process.stdout.write(`  warning: load average ${loadBefore[0]!.toFixed(1)} on ${m.cpu.cores} cores: other processes share the cores\n`);
  }
  if (o.json) {
    mkdirSync(dirname(resolve(o.json)), { recursive: true });
    writeFileSync(o.json, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`wrote ${o.json}\n`);
  }
  return 0;
}
