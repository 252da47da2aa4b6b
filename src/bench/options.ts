// mfn-bench's command line: parsing, validation and the help glossary.
// Every bad option ends in a UsageError (exit code 2) with a message that
// names the option, what it expects and what it got.
import { availableParallelism } from "node:os";
import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import type { PeerLevel } from "./protocol.js";

export type BackendChoice = "auto" | "cpu" | "cuda";
export type FlipMode = "on" | "off" | "both";

// How long a phase lasts: wall-clock seconds, or a number of calls.
export type Budget = { unit: "seconds"; value: number } | { unit: "calls"; value: number };

export interface BenchOptions {
  backends: BackendChoice[];
  batches: number[];
  concurrencies: number[];
  flips: boolean[];
  threads: number;
  warmup: Budget;
  measure: Budget;
  input: string | undefined;  // folder of face images; undefined = synthetic pixels
  peers: boolean;
  json: string | undefined;
  chart: string | undefined;
  model: string | undefined;  // undefined = the packaged model
  ortOpt: PeerLevel;
  maxDelayUs: number | undefined;  // undefined = the library's default
  progress: boolean;
}

export const EXIT_USAGE = 2;

export class UsageError extends Error {}

export const GLOSSARY = `
What it does:
  Every configuration (backend x flip x batch, and each --concurrency level)
  runs in a fresh Node process: load the model, warm up, then timed calls.
  With --peers, onnxruntime-node runs the same model in its own process with
  the same threads (intraOpNumThreads = --threads, interOpNumThreads = 1)
  and the same batch, with denormals flushed to zero (set_denormal_as_zero)
  and at ORT's faster graph optimisation level on this machine (--ort-opt
  auto; its choice and timings are in the JSON).

Glossary (every figure in the table and the JSON):
  img/s       images embedded per second = embeddings/s (one embedding per
              image, flip or not): images completed / wall time of the timed
              phase (first call started to last call resolved).
  passes/s    network forward passes per second: img/s x 2 with flip (the
              image and its mirror both go through the network), x 1 without.
  calls       timed calls: embed() for batch 1, embedBatch() otherwise; with
              --concurrency C, C single-image embed() calls are kept in flight.
  p50/p90/p99 latency of one call in ms, from the call to its promise
              resolving (nearest-rank percentiles over the timed calls).
  pre         native preprocessing (resize, channel order, normalisation,
              mirror) per call, ms, median over the timed calls.
  h2d         host-to-device copy, ms (0 on the CPU backend).
  compute     network on the backend (both passes with flip), ms.
  d2h         device-to-host copy, ms (0 on the CPU backend).
  js          JS round trip: call latency minus pre+h2d+compute+d2h, ms,
              median per call: argument checks, thread hand-offs, promise
              resolution. With --concurrency > 1 it also holds the wait in
              the batching queue, and the stages are those of the batch that
              ran last (it may hold several calls).
  cores       CPU time of the benchmark process (all its threads) / wall time
              of the timed phase: about --threads when the cores are ours,
              less when other processes take them or threads wait.
  vs ort      mfn's img/s divided by onnxruntime-node's in the same
              configuration (with --peers).
  The stages come from embedder.lastTimings(). onnxruntime-node reports no
  stages: it is given preprocessed float tensors (NCHW, normalised, the
  mirrored copy included with flip, so it runs 2 x batch), prepared before
  the timed phase; its time includes summing the pairs and L2-normalising.

Face detection: \`mfn-bench detect [--input DIR] [--count N] [--rounds N]
  [--threads N] [--concurrency N] [--json FILE]\` times embedder.detect and
  embedFaces on real photos against onnxruntime-node running the same
  detector, N calls in flight (see \`mfn-bench detect --help\`).

Exit codes: 0 done, 1 a configuration failed, 2 bad options.
`;

function positiveIntList(name: string) {
  return (value: string): number[] => {
    const items = value.split(",").map((s) => s.trim());
    const out: number[] = [];
    for (const item of items) {
      if (!/^\d+$/.test(item) || Number(item) < 1 || Number(item) > 65536) {
        throw new InvalidArgumentError(`${name} must be a comma-separated list of integers from 1 to 65536 (got "${item}").`);
      }
      if (!out.includes(Number(item))) out.push(Number(item));
    }
    return out.sort((a, b) => a - b);
  };
}

function positiveNumber(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === "" || !Number.isFinite(n) || n <= 0) {
      throw new InvalidArgumentError(`${name} must be a number > 0 (got "${value}").`);
    }
    return n;
  };
}

function positiveInt(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) < 1) {
      throw new InvalidArgumentError(`${name} must be an integer >= 1 (got "${value}").`);
    }
    return Number(value);
  };
}

function nonNegativeInt(name: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value.trim()) || Number(value) > 10_000_000) {
      throw new InvalidArgumentError(`${name} must be an integer from 0 to 10000000 (got "${value}").`);
    }
    return Number(value);
  };
}

// "2" or "2s" = seconds, "500ms" = milliseconds, "20it" = 20 calls, "0" = none.
export function parseBudget(value: string): Budget {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(s|ms|it)?\s*$/.exec(value);
  if (!m) throw new InvalidArgumentError(`expected seconds ("2", "2s", "500ms") or calls ("20it") (got "${value}").`);
  const n = Number(m[1]);
  if (m[2] === "it") {
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`a number of calls must be an integer (got "${value}").`);
    return { unit: "calls", value: n };
  }
  return { unit: "seconds", value: m[2] === "ms" ? n / 1000 : n };
}

function backendList(value: string): BackendChoice[] {
  const out: BackendChoice[] = [];
  for (const item of value.split(",").map((s) => s.trim())) {
    if (item !== "auto" && item !== "cpu" && item !== "cuda") {
      throw new InvalidArgumentError(`backends are auto, cpu or cuda, comma-separated (got "${item}").`);
    }
    if (!out.includes(item)) out.push(item);
  }
  return out;
}

export function buildProgram(): Command {
  const cores = availableParallelism();
  const program = new Command("mfn-bench")
    .description("Benchmark mfn face embeddings (and optionally onnxruntime-node) on this machine.")
    .addOption(new Option("--backend <list>", "backends to run: auto, cpu, cuda (comma-separated)").argParser(backendList).default(["auto"], "auto"))
    .addOption(new Option("--batch <list>", "images per embedBatch() call").argParser(positiveIntList("--batch")).default([1, 8, 32], "1,8,32"))
    .addOption(
      new Option("--concurrency <list>", "single-image embed() calls kept in flight (exercises the batching queue); 1 = none")
        .argParser(positiveIntList("--concurrency"))
        .default([1, 16], "1,16"),
    )
    .addOption(new Option("--flip <mode>", "also embed the mirrored image and sum: on, off or both").choices(["on", "off", "both"]).default("on"))
    .addOption(new Option("--threads <n>", "CPU threads for mfn and for the peer").argParser(positiveInt("--threads")).default(cores, `${cores}, this machine's cores`))
    .addOption(new Option("--warmup <budget>", 'warm-up per configuration: seconds ("1", "1s", "500ms") or calls ("20it")').argParser(parseBudget).default({ unit: "seconds", value: 1 }, "1s"))
    .addOption(new Option("--duration <seconds>", "timed phase per configuration, in seconds (default: 3)").argParser(positiveNumber("--duration")).conflicts("iterations"))
    .addOption(new Option("--iterations <n>", "timed phase per configuration, in calls").argParser(positiveInt("--iterations")))
    .addOption(new Option("--input <dir>", "folder of face images (JPEG/PNG/WebP, searched recursively, the first 64 in path order), decoded once up front to raw pixels; default: synthetic pixels"))
    .addOption(new Option("--peers", "also run onnxruntime-node (CPU) on the same model, threads and batch"))
    .addOption(
      new Option("--ort-opt <level>", "the peer's graph optimisation level: all (ORT's default), extended (no NCHWc layout transform), or auto: the faster of the two on this machine")
        .choices(["auto", "all", "extended"])
        .default("auto"),
    )
    .addOption(new Option("--json <file>", "write every result, the machine, versions, commit and command line as JSON"))
    .addOption(new Option("--chart <file>", "write an SVG chart of images/s against batch size"))
    .addOption(
      new Option("--max-delay-us <us>", "mfn's batching queue: how long a call waits for others to share its batch (createEmbedder maxDelayUs; default: the library's)")
        .argParser(nonNegativeInt("--max-delay-us")),
    )
    .addOption(new Option("--model <file>", "ONNX model (default: the packaged MobileFaceNet)"))
    .addOption(new Option("--no-progress", "no progress bar (it is off anyway when stderr is not a terminal)"))
    .addHelpText("after", GLOSSARY)
    .showHelpAfterError("(mfn-bench --help lists the options and explains every figure)")
    .allowExcessArguments(false)
    .exitOverride();
  return program;
}

interface RawOptions {
  backend: BackendChoice[];
  batch: number[];
  concurrency: number[];
  flip: FlipMode;
  threads: number;
  warmup: Budget;
  duration?: number;
  iterations?: number;
  input?: string;
  peers?: boolean;
  json?: string;
  chart?: string;
  model?: string;
  ortOpt: PeerLevel;
  maxDelayUs?: number;
  progress: boolean;
}

// Parses argv (without node and the script). Returns null when help or the
// version was printed; throws UsageError for anything malformed (commander
// has then already printed its message to stderr).
export function parseOptions(argv: readonly string[]): BenchOptions | null {
  const program = buildProgram();
  try {
    program.parse([...argv], { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version") return null;
      throw new UsageError(err.message);
    }
    throw err;
  }
  const raw = program.opts<RawOptions>();
  const flips = raw.flip === "both" ? [true, false] : [raw.flip === "on"];
  const measure: Budget =
    raw.iterations !== undefined ? { unit: "calls", value: raw.iterations } : { unit: "seconds", value: raw.duration ?? 3 };
  return {
    backends: raw.backend,
    batches: raw.batch,
    concurrencies: raw.concurrency,
    flips,
    threads: raw.threads,
    warmup: raw.warmup,
    measure,
    input: raw.input,
    peers: raw.peers === true,
    json: raw.json,
    chart: raw.chart,
    model: raw.model,
    ortOpt: raw.ortOpt,
    maxDelayUs: raw.maxDelayUs,
    progress: raw.progress,
  };
}
