#!/usr/bin/env node
// mfn-bench: throughput and latency of mfn on this machine, optionally next
// to onnxruntime-node, each configuration in a fresh process. See --help.
import { existsSync, mkdirSync, statSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { renderChart } from "./chart.js";
import { runDetectBench } from "./detect.js";
import { machineInfo, machineLine, sourceInfo, versions, type MachineInfo, type SourceInfo, type Versions } from "./machine.js";
import { EXIT_USAGE, parseOptions, UsageError, type BenchOptions, type Budget } from "./options.js";
import { preparePixels, readManifest, type ModelManifest } from "./pixels.js";
import { isFailure, type RunFailure, type RunResult } from "./protocol.js";
import { planRuns, runAll } from "./runner.js";
import { renderTable, TABLE_LEGEND } from "./table.js";

// dist/bench/cli.js and src/bench/cli.ts both sit two levels below the package root.
const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

function budgetText(b: Budget): string {
  return b.unit === "seconds" ? `${b.value} s` : `${b.value} call${b.value === 1 ? "" : "s"}`;
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`;
}

function shownPath(p: string): string {
  const rel = relative(packageRoot, p);
  return rel.startsWith("..") || isAbsolute(rel) ? p : rel;
}

interface Context {
  options: BenchOptions;
  argv: string[];
  machine: MachineInfo;
  versions: Versions;
  source: SourceInfo;
  model: string;
  manifest: ModelManifest;
  input: string;
  date: Date;
  loadBefore: number[];  // os.loadavg(): 1, 5, 15 minutes
}

function commitText(s: SourceInfo): string {
  return s.commit === null ? "unknown (not a git checkout)" : `${s.commit.slice(0, 10)}${s.dirty ? " + local changes" : ""}`;
}

function header(c: Context, configurations: number): string {
  const o = c.options;
  const m = c.machine;
  const gpu = m.gpus.length > 0
    ? m.gpus.map((g) => `${g.name} (driver ${g.driver}${m.cuda ? `, CUDA ${m.cuda}` : ""})`).join("; ")
    : `none (${m.gpuNote})`;
  const lines = [
    `mfn-bench ${c.versions.mfn}  node ${c.versions.node}  commit ${commitText(c.source)}`,
    `machine  ${m.cpu.model}, ${m.cpu.cores} cores${m.cpu.isa.length ? ` (${m.cpu.isa.join(" ")})` : ""}, ${m.memoryGiB} GiB, ${m.os}`,
    `gpu      ${gpu}`,
    `model    ${shownPath(c.model)}: ${c.manifest.width}x${c.manifest.height} -> ${c.manifest.embeddingSize}-d`,
    `input    ${c.input}`,
    `method   ${configurations} configuration${configurations === 1 ? "" : "s"}, each in a fresh process: warm-up ${budgetText(o.warmup)}, then ${budgetText(o.measure)} timed; ${o.threads} threads; flip ${o.flips.map((f) => (f ? "on" : "off")).join(" and ")}${o.maxDelayUs === undefined ? "" : `; maxDelayUs ${o.maxDelayUs}`}`,
  ];
  if (c.loadBefore[0] > 0.5 * m.cpu.cores) {
    lines.push(`warning  this machine is busy (load average ${c.loadBefore[0].toFixed(1)} on ${m.cpu.cores} cores): other processes share the cores, numbers will be low and noisy`);
  }
  if (o.peers) {
    lines.push(`peer     ort = onnxruntime-node ${c.versions.onnxruntimeNode}, CPU provider, intra-op ${o.threads} threads, inter-op 1: fed preprocessed`,
      `         float tensors prepared before timing (no preprocessing in its time); with flip it runs 2 x batch;`,
      `         denormals flushed to zero; graph optimisation ${o.ortOpt === "auto" ? "level: the faster of all and extended here (auto)" : o.ortOpt}`);
  }
  return lines.join("\n");
}

function report(c: Context, results: (RunResult | RunFailure)[]) {
  const o = c.options;
  return {
    tool: "mfn-bench",
    schemaVersion: 1,
    date: c.date.toISOString(),
    command: ["mfn-bench", ...c.argv.map(quoteArg)].join(" "),
    machine: c.machine,
    // Other processes' share of the cores, before and after the run.
    loadAverage: { before: c.loadBefore, after: loadavg() },
    versions: c.versions,
    source: c.source,
    // They choose which mfn.node loads (src/native.ts).
    environment: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith("MFN_"))),
    model: { path: shownPath(c.model), width: c.manifest.width, height: c.manifest.height, dimensions: c.manifest.embeddingSize },
    input: { kind: o.input === undefined ? "synthetic" : "folder", description: c.input },
    settings: {
      backends: o.backends, batches: o.batches, concurrencies: o.concurrencies, flips: o.flips,
      threads: o.threads, warmup: o.warmup, measure: o.measure, peers: o.peers,
      maxDelayUs: o.maxDelayUs ?? "library default",
    },
    peer: o.peers
      ? {
        name: "onnxruntime-node",
        version: c.versions.onnxruntimeNode,
        executionProvider: "cpu",
        intraOpNumThreads: o.threads,
        interOpNumThreads: 1,
        setDenormalAsZero: true,
        graphOptimizationLevel: o.ortOpt === "auto" ? "auto: the faster of all and extended on one image, per configuration (results[].peerTuning)" : o.ortOpt,
        input: "preprocessed float tensors (NCHW, normalised; with flip the mirrored copies too, 2 x batch rows), prepared before timing",
      }
      : null,
    units: {
      imagesPerSec: "images embedded per second = embeddingsPerSec (one embedding per image)",
      passesPerSec: "network forward passes per second (2 per image with flip)",
      latencyMs: "per call (embed() for batch 1, embedBatch() otherwise), nearest-rank percentiles",
      stagesMs: "native stages per call from lastTimings(), medians; jsRoundTrip = latency - stages (with concurrency > 1 it includes queueing)",
      cpuCores: "CPU time of the benchmark process (all threads) / wall time of the timed phase",
      loadAverage: "1-minute load average at the end of the configuration's timed phase",
    },
    results,
  };
}

async function main(argv: string[]): Promise<number> {
  // `mfn-bench detect ...`: the detection / pipeline benchmark (bench/detect.ts).
  if (argv[0] === "detect") return runDetectBench(argv.slice(1), packageRoot);
  let options: BenchOptions | null;
  try {
    options = parseOptions(argv);
  } catch (err) {
    if (err instanceof UsageError) return EXIT_USAGE;  // commander printed the message
    throw err;
  }
  if (options === null) return 0;  // --help
  const usage = (message: string) => {
    process.stderr.write(`error: ${message}\n(mfn-bench --help lists the options and explains every figure)\n`);
    return EXIT_USAGE;
  };
  const model = options.model !== undefined ? resolve(options.model) : join(packageRoot, "models", "mobilefacenet.onnx");
  if (!existsSync(model) || !statSync(model).isFile()) return usage(`--model: no such file ${model}`);
  if (options.input !== undefined && (!existsSync(options.input) || !statSync(options.input).isDirectory())) {
    return usage(`--input: no such folder ${options.input}`);
  }
  const vers = versions(packageRoot);
  if (options.peers && vers.onnxruntimeNode === null) {
    process.stderr.write("error: --peers needs onnxruntime-node: npm install onnxruntime-node\n");
    return 1;
  }
  const manifest = readManifest(model);
  const pixels = await preparePixels(options.input, manifest, options.peers ? model : null);
  try {
    const ctx: Context = {
      options, argv, model, manifest,
      machine: machineInfo(),
      versions: vers,
      source: sourceInfo(packageRoot),
      input: pixels.description,
      date: new Date(),
      loadBefore: loadavg(),
    };
    const specs = planRuns(options, pixels.indexPath, model);
    process.stdout.write(`${header(ctx, specs.length)}\n\n`);
    const results = await runAll(specs, options.progress && process.stderr.isTTY === true);
    process.stdout.write(`${renderTable(results)}\n\n${TABLE_LEGEND.join("\n")}\n`);
    const written: string[] = [];
    if (options.json !== undefined) {
      mkdirSync(dirname(resolve(options.json)), { recursive: true });
      writeFileSync(options.json, `${JSON.stringify(report(ctx, results), null, 2)}\n`);
      written.push(options.json);
    }
    if (options.chart !== undefined) {
      const details = [
        `${options.threads} threads`,
        options.input === undefined ? "synthetic input" : "input: image folder",
        `node ${vers.node}`,
        `mfn ${vers.mfn}`,
        ...(options.peers ? [`onnxruntime-node ${vers.onnxruntimeNode}`] : []),
        `commit ${commitText(ctx.source)}`,
        ctx.date.toISOString().slice(0, 10),
      ].join(" · ");
      mkdirSync(dirname(resolve(options.chart)), { recursive: true });
      writeFileSync(options.chart, renderChart(results, { machine: machineLine(ctx.machine), details }));
      written.push(options.chart);
    }
    if (written.length > 0) process.stdout.write(`\nwrote ${written.join(", ")}\n`);
    return results.some(isFailure) ? 1 : 0;
  } finally {
    pixels.dispose();
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    process.stderr.write(`mfn-bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
