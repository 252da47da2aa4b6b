// The terminal table: one row per configuration, in the order they ran, so
// that each mfn row sits next to its peer.
import { isFailure, type RunFailure, type RunResult } from "./protocol.js";

type Row = RunResult | RunFailure;

// Three significant digits, never exponent notation.
export function fmt(v: number | null | undefined): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "-";
  const a = Math.abs(v);
  if (v === 0) return "0";
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toFixed(3);
}

export function engineLabel(engine: string): string {
  return engine === "onnxruntime-node" ? "ort" : engine;
}

// The peer result measured under the same flip, batch and concurrency.
export function peerOf(r: RunResult, all: readonly Row[]): RunResult | undefined {
  return all.find((p): p is RunResult =>
    !isFailure(p) && p.engine !== "mfn" && p.flip === r.flip && p.batch === r.batch && p.concurrency === r.concurrency);
}

export function renderTable(rows: readonly Row[]): string {
  const hasPeers = rows.some((r) => r.engine !== "mfn");
  const head = ["engine", "backend", "flip", "batch", "conc", "calls", "img/s", "passes/s", "p50", "p90", "p99", "pre", "h2d", "compute", "d2h", "js", "cores"];
  if (hasPeers) head.push("vs ort");
  const body: string[][] = [];
  const failures: { error: string; where: string[] }[] = [];
  for (const r of rows) {
    const key = [engineLabel(r.engine), "", r.flip ? "on" : "off", String(r.batch), String(r.concurrency)];
    if (isFailure(r)) {
      key[1] = r.requestedBackend;
      body.push([...key, r.during === "skipped" ? "SKIPPED" : "FAILED", ...head.slice(6).map(() => "")]);
      const where = `${engineLabel(r.engine)} ${r.requestedBackend} flip ${r.flip ? "on" : "off"} batch ${r.batch} conc ${r.concurrency}`;
      const same = failures.find((f) => f.error === r.error);
      if (same) same.where.push(where);
      else failures.push({ error: r.error, where: [where] });
      continue;
    }
    key[1] = r.backend + (r.fallbackReason ? "*" : "");
    const s = r.stagesMs;
    const line = [
      ...key,
      String(r.calls),
      fmt(r.imagesPerSec),
      fmt(r.passesPerSec),
      fmt(r.latencyMs.p50),
      fmt(r.latencyMs.p90),
      fmt(r.latencyMs.p99),
      fmt(s?.preprocess),
      fmt(s?.hostToDevice),
      fmt(s?.compute),
      fmt(s?.deviceToHost),
      fmt(s?.jsRoundTrip),
      r.cpuCores.toFixed(2),
    ];
    if (hasPeers) {
      const peer = r.engine === "mfn" ? peerOf(r, rows) : undefined;
      line.push(peer ? `${(r.imagesPerSec / peer.imagesPerSec).toFixed(2)}x` : "");
    }
    body.push(line);
  }
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c].length)));
  // Text columns left-aligned, numbers right-aligned.
  const pad = (cells: string[]) =>
    cells.map((cell, c) => (c < 3 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ").trimEnd();
  const lines = [pad(head), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(pad)];
  const fallbacks = rows.filter((r): r is RunResult => !isFailure(r) && r.fallbackReason !== null && r.fallbackReason !== "");
  if (fallbacks.length > 0) {
    const reasons = [...new Set(fallbacks.map((r) => `${r.requestedBackend} -> ${r.backend}: ${r.fallbackReason}`))];
    lines.push("", ...reasons.map((reason) => `* fell back: ${reason}`));
  }
  const addons = [...new Set(rows.flatMap((r) => (!isFailure(r) && r.addonDir !== null ? [r.addonDir] : [])))];
  if (addons.length > 0) lines.push("", `mfn addon loaded from ${addons.join(" and ")}`);
  const tuned = rows.filter((r): r is RunResult => !isFailure(r) && r.peerTuning !== null);
  if (tuned.length > 0) {
    const chosen = [...new Set(tuned.map((r) => r.peerTuning!.graphOptimizationLevel))];
    const timed = tuned.filter((r) => r.peerTuning!.msPerRun !== null);
    const how = timed.length === 0
      ? "as requested (--ort-opt)"
      : `the faster on one image (${timed.map((r) => Object.entries(r.peerTuning!.msPerRun!).map(([level, ms]) => `${level} ${fmt(ms)}`).join(" / ")).slice(0, 3).join("; ")} ms per run)`;
    lines.push("", `ort graph optimisation level: ${chosen.join(" or ")}, ${how}`);
  }
  for (const f of failures) {
    lines.push("", `FAILED (${f.where.join("; ")}):`, ...f.error.split("\n").map((l) => `  ${l}`));
  }
  return lines.join("\n");
}

export const TABLE_LEGEND = [
  "img/s = embeddings/s (one per image); passes/s = network forward passes (2 per image with flip).",
  "p50/p90/p99: latency per call, ms. pre/h2d/compute/d2h: native stages per call, ms (median);",
  "js = call latency - native stages (with conc > 1 it includes the wait in the batching queue).",
  "cores = CPU time of the process / wall time. conc = single-image embed() calls in flight. Glossary: mfn-bench --help.",
];
