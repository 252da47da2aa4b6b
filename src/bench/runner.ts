// The parent side: lists the configurations and runs each in a fresh child
// process (child.js, forked), one at a time so that they never compete for
// the cores, with a progress bar on a terminal and a line per configuration
// otherwise.
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import cliProgress from "cli-progress";
import type { BenchOptions, Budget } from "./options.js";
import type { ChildMessage, EngineName, RunFailure, RunResult, RunSpec } from "./protocol.js";
import { engineLabel, fmt } from "./table.js";

const CHILD_SCRIPT = fileURLToPath(new URL("./child.js", import.meta.url));
const STDERR_TAIL = 2000;
// A child that has sent its result but keeps running (a thread keeping the
// process alive) is killed after this long, and the user is told.
const EXIT_GRACE_MS = 15_000;

// Explicit batches (one call in flight), then single-image calls at each
// concurrency above 1. For each, every mfn backend and then the peer, so
// that the rows to compare run (and print) next to each other.
export function planRuns(options: BenchOptions, pixels: string, model: string): RunSpec[] {
  const shapes = [
    ...options.batches.map((batch) => ({ batch, concurrency: 1 })),
    ...options.concurrencies.filter((c) => c > 1).map((concurrency) => ({ batch: 1, concurrency })),
  ];
  const specs: RunSpec[] = [];
  for (const flip of options.flips) {
    for (const shape of shapes) {
      const engines: { engine: EngineName; backend: RunSpec["backend"] }[] = options.backends.map((backend) => ({ engine: "mfn", backend }));
      if (options.peers) engines.push({ engine: "onnxruntime-node", backend: "cpu" });
      for (const e of engines) {
        specs.push({ ...e, flip, ...shape, threads: options.threads, warmup: options.warmup, measure: options.measure, pixels, model, peerLevel: options.ortOpt, maxDelayUs: options.maxDelayUs ?? null });
      }
    }
  }
  return specs;
}

export function describeSpec(s: RunSpec): string {
  return `${engineLabel(s.engine)} ${s.backend} flip ${s.flip ? "on" : "off"} batch ${s.batch}${s.concurrency > 1 ? ` conc ${s.concurrency}` : ""}`;
}

function failure(spec: RunSpec, error: string, during: RunFailure["during"] = "run"): RunFailure {
  return { engine: spec.engine, requestedBackend: spec.backend, flip: spec.flip, batch: spec.batch, concurrency: spec.concurrency, error, during };
}

// Runs one configuration in a fresh process. Never rejects: a child that
// fails or dies becomes a RunFailure carrying its message (or stderr tail).
function runChild(spec: RunSpec, onProgress: (phase: string, fraction: number) => void): Promise<RunResult | RunFailure> {
  return new Promise((resolve) => {
    const child = fork(CHILD_SCRIPT, [], { execArgv: [], stdio: ["ignore", "pipe", "pipe", "ipc"], serialization: "json" });
    let outcome: RunResult | RunFailure | null = null;
    let output = "";
    const keep = (chunk: Buffer) => { output = (output + chunk.toString()).slice(-STDERR_TAIL); };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    let grace: NodeJS.Timeout | undefined;
    child.on("message", (m: ChildMessage) => {
      if (m.type === "progress") {
        onProgress(m.phase, m.fraction);
        return;
      }
      outcome = m.type === "result" ? m.result : failure(spec, m.message, m.during);
      grace = setTimeout(() => {
        process.stderr.write(`mfn-bench: ${describeSpec(spec)}: the process did not exit ${EXIT_GRACE_MS / 1000} s after its result; killed it\n`);
        child.kill("SIGKILL");
      }, EXIT_GRACE_MS);
    });
    child.on("error", (err) => { outcome ??= failure(spec, `cannot start ${CHILD_SCRIPT}: ${err.message}`); });
    child.on("exit", (code, signal) => {
      clearTimeout(grace);
      if (outcome === null) {
        const how = signal !== null ? `signal ${signal}` : `exit code ${code}`;
        outcome = failure(spec, `the benchmark process died (${how})${output.trim() ? `: ${output.trim()}` : ""}`);
      }
      resolve(outcome);
    });
    child.send(spec);
  });
}

function weight(b: Budget): number {
  return b.unit === "seconds" ? b.value : b.value / 10;
}

export async function runAll(specs: readonly RunSpec[], showBar: boolean): Promise<(RunResult | RunFailure)[]> {
  const results: (RunResult | RunFailure)[] = [];
  const steps = 1000;
  const bar = showBar
    ? new cliProgress.SingleBar({
      stream: process.stderr,
      format: "{bar} {percentage}% | ETA {eta_formatted} | {done}/{count} {what}",
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(specs.length * steps, 0, { done: 0, count: specs.length, what: "" });
  // Engines (and backends) that could not even load: their other
  // configurations would fail the same way, so they are not started.
  const unloadable = new Map<string, string>();
  for (const [i, spec] of specs.entries()) {
    const engineKey = `${spec.engine} ${spec.backend}`;
    const loadError = unloadable.get(engineKey);
    const w = weight(spec.warmup);
    const m = weight(spec.measure);
    const total = w + m > 0 ? w + m : 1;
    const result = loadError !== undefined
      ? failure(spec, loadError, "skipped")
      : await runChild(spec, (phase, fraction) => {
        const within = phase === "load" ? 0 : phase === "warmup" ? (fraction * w) / total : (w + fraction * m) / total;
        bar?.update(Math.round((i + within) * steps), { what: `${describeSpec(spec)} (${phase})` });
      });
    results.push(result);
    if ("error" in result && result.during === "load") unloadable.set(engineKey, result.error);
    bar?.update((i + 1) * steps, { done: i + 1 });
    if (!bar) {
      const summary = "error" in result
        ? `${result.during === "skipped" ? "SKIPPED (same load failure)" : "FAILED"}: ${result.error.split("\n")[0]}`
        : `${fmt(result.imagesPerSec)} img/s, p50 ${fmt(result.latencyMs.p50)} ms`;
      process.stderr.write(`[${i + 1}/${specs.length}] ${describeSpec(spec)}: ${summary}\n`);
    }
  }
  bar?.stop();
  return results;
}
