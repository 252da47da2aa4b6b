// Shared by the gallery benchmark scripts: paths, the machine description,
// deterministic random unit vectors, percentiles, the cached LFW embeddings.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
export const LFW_DIR = process.env.MFN_LFW_DIR ?? resolve(REPO, "..", "shared", "data", "lfw");
export const CACHE_DIR = join(REPO, "build", "gallery-lfw");
export const RESULTS = join(REPO, "bench", "results");

export function machine() {
  const flags = readFileSync("/proc/cpuinfo", "utf8").match(/^flags\s*:(.*)$/m)?.[1].trim().split(/\s+/) ?? [];
  const model = readFileSync("/proc/cpuinfo", "utf8").match(/^model name\s*:(.*)$/m)?.[1].trim() ?? "unknown";
  const simd = ["avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16"].filter((f) => flags.includes(f));
  let commit = "unknown";
  let dirty = false;
  try {
    commit = execFileSync("git", ["-C", REPO, "rev-parse", "HEAD"], { encoding: "utf8" }).trim();
    dirty = execFileSync("git", ["-C", REPO, "status", "--porcelain", "--untracked-files=no"], { encoding: "utf8" }).trim() !== "";
  } catch {}
  return { cpu: model, cores: cpus().length, simd, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), node: process.versions.node,
           commit, dirty, loadAverage: readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).map(Number) };
}

/** xorshift32 in [0, 1). */
export function rng(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13; s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5; s >>>= 0;
    return s / 4294967296;
  };
}

/** n unit vectors of d values (Gaussian by Box-Muller), one Float32Array. */
export function unitVectors(n, d, seed) {
  const random = rng(seed);
  const out = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    let sum = 0;
    for (let j = 0; j < d; j += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - random()));
      const t = 2 * Math.PI * random();
      out[i * d + j] = r * Math.cos(t);
      if (j + 1 < d) out[i * d + j + 1] = r * Math.sin(t);
    }
    for (let j = 0; j < d; j++) sum += out[i * d + j] ** 2;
    const inv = 1 / Math.sqrt(sum);
    for (let j = 0; j < d; j++) out[i * d + j] *= inv;
  }
  return out;
}

export function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

/** The cached LFW embeddings (bench/gallery/lfw-embeddings.mjs), or undefined. */
export function lfwEmbeddings() {
  const file = join(CACHE_DIR, "embeddings.f32");
  if (!existsSync(file)) return undefined;
  const { dimensions, paths } = JSON.parse(readFileSync(join(CACHE_DIR, "paths.json"), "utf8"));
  const buf = readFileSync(file);
  return { dimensions, paths, vectors: new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4) };
}

/** recall@k of `found` against `truth` (lists of ids per query). */
export function recall(found, truth) {
  let hits = 0;
  let total = 0;
  found.forEach((list, q) => {
    const ids = new Set(truth[q]);
    hits += list.filter((id) => ids.has(id)).length;
    total += truth[q].length;
  });
  return hits / total;
}
