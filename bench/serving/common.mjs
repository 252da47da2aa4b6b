// Shared by the serving benchmarks: inputs, statistics, load shapes and the
// record of where a figure was measured. The benchmarks import the compiled
// package (dist/), so run `npm run build` first.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { machineInfo, sourceInfo, versions } from "../../dist/bench/machine.js";

export const root = fileURLToPath(new URL("../..", import.meta.url));

/** Raw 112x112 RGB noise, seeded: the model's input size, so no resampling cost. */
export function noiseImage(seed, side = 112) {
  const data = new Uint8Array(side * side * 3);
  let a = seed >>> 0;
  for (let i = 0; i < data.length; i++) {
    a = (a * 1103515245 + 12345) >>> 0;
    data[i] = a >>> 24;
  }
  return { data, width: side, height: side, channels: 3 };
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/** `--name value` flags with defaults; numbers stay numbers. */
export function parseFlags(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, "");
    if (!(key in defaults)) throw new Error(`unknown flag --${key}; known: ${Object.keys(defaults).join(", ")}`);
    const raw = argv[++i];
    out[key] = typeof defaults[key] === "number" ? Number(raw) : raw;
  }
  return out;
}

/**
 * Closed-loop load: `clients` callers, each issuing `call()` again as soon as
 * its previous one settled, until `total` calls were started. Returns the
 * wall time, per-call latencies (ms) and how many calls rejected, by code.
 */
export async function closedLoop(call, { clients, total }) {
  let started = 0;
  const latencies = [];
  const errors = {};
  const start = performance.now();
  async function client() {
    while (started < total) {
      started++;
      const t = performance.now();
      try {
        await call(started);
        latencies.push(performance.now() - t);
      } catch (error) {
        const code = error?.code ?? "other";
        errors[code] = (errors[code] ?? 0) + 1;
      }
    }
  }
  await Promise.all(Array.from({ length: clients }, client));
  return { seconds: (performance.now() - start) / 1000, latencies, errors };
}

/** Where and how a figure was measured: machine, versions, commit, command. */
export function provenance() {
  return {
    date: new Date().toISOString(),
    command: `node ${process.argv.slice(1).map((a) => a.replace(root, "")).join(" ")}`,
    machine: machineInfo(),
    versions: versions(root),
    commit: sourceInfo(root),
  };
}

export function writeResult(relativePath, record) {
  const path = join(root, relativePath);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(record, null, 2)}\n`);
  return path;
}
