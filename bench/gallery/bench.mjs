// The gallery benchmark: mfn's exact search (float32, float16, int8) against
// a plain JavaScript Float32Array scan and hnswlib-node's exact
// BruteforceSearch and approximate HierarchicalNSW, all in this one process
// and run, one after another (each peer's index is freed before the next is
// built). Vectors: seeded random unit vectors of 512 values; recall of the
// reduced precisions also on cached LFW embeddings (lfw-embeddings.mjs).
//
//   node --expose-gc bench/gallery/bench.mjs --sizes 10000,100000 --out bench/results/gallery-<name>
//
// Options: --sizes (comma list), --threads (mfn scan threads, default 2),
// --queries (latency queries per peer, default 200, fewer for slow peers),
// --hnsw-max (largest size HNSW is built for, default 100000),
// --peers (comma list of names below, default all), --out (writes .json and .md).
import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { createGallery } from "../../dist/index.js";
import { REPO, lfwEmbeddings, machine, percentile, recall, unitVectors } from "./common.mjs";

const require = createRequire(import.meta.url);
const hnswlib = require("hnswlib-node");

const { values: args } = parseArgs({
  options: {
    sizes: { type: "string", default: "10000,100000" },
    threads: { type: "string", default: "2" },
    queries: { type: "string", default: "200" },
    "hnsw-max": { type: "string", default: "100000" },
    peers: { type: "string", default: "mfn-float32,mfn-float16,mfn-int8,mfn-float32-1t,js-scan,hnswlib-bruteforce,hnswlib-hnsw" },
    out: { type: "string" },
  },
});
const D = 512;
const K = 10;
const BATCH = 64;
const threads = Number(args.threads);
const wanted = new Set(args.peers.split(","));
const gc = globalThis.gc ?? (() => {});

function rss() {
  gc();
  return process.memoryUsage().rss;
}

function row(data, i) {
  return data.subarray(i * D, (i + 1) * D);
}

/** Latencies (ms) of `count` sequential calls of `fn(i)`, plus one warm-up call. */
async function latencies(count, fn) {
  await fn(0);
  const ms = [];
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    await fn(i);
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  return { p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), latencyQueries: count };
}

/** Queries per second of batches of 64 (`fn(batchIndex)` answers one batch), for at least `seconds`. */
async function throughput(fn, seconds, minBatches = 1) {
  await fn(0);
  let batches = 0;
  const t0 = performance.now();
  while (batches < minBatches || performance.now() - t0 < seconds * 1000) await fn(++batches);
  return { batchQps: (batches * BATCH) / ((performance.now() - t0) / 1000), batches };
}

// ---- peers: each returns { build(data, n), search(query, k) -> ids, batch(queries) -> ids[][], free() }

function mfnPeer(precision, scanThreads) {
  let gallery;
  return {
    async build(data, n) {
      gallery = await createGallery({ dimensions: D, precision, threads: scanThreads });
      for (let i = 0; i < n; i++) gallery.add(String(i), row(data, i));
    },
    async search(query) {
      return (await gallery.search(query, { k: K })).map((m) => m.id);
    },
    async batch(queries) {
      return (await gallery.searchBatch(queries, { k: K })).map((list) => list.map((m) => m.id));
    },
    bytesPerVector: () => gallery.bytesPerVector,
    free: () => gallery.dispose(),
  };
}

// The plain JavaScript scan users write: one Float32Array of unit rows, a
// dot product per row, a sorted top-k list.
function jsScanPeer() {
  let rows;
  let n = 0;
  const search = (query) => {
    const best = [];
    let floor = -Infinity;
    for (let i = 0; i < n; i++) {
      let dot = 0;
      const base = i * D;
      for (let j = 0; j < D; j++) dot += rows[base + j] * query[j];
      if (best.length < K || dot > floor) {
        best.push({ id: i, dot });
        best.sort((a, b) => b.dot - a.dot);
        if (best.length > K) best.pop();
        floor = best[best.length - 1].dot;
      }
    }
    return best.map((b) => String(b.id));
  };
  return {
    async build(data, count) {
      n = count;
      rows = new Float32Array(data.subarray(0, n * D));
    },
    search: async (query) => search(query),
    batch: async (queries) => queries.map(search),
    bytesPerVector: () => D * 4,
    free: () => { rows = undefined; },
  };
}

function hnswlibPeer(kind) {
  let index;
  return {
    async build(data, n) {
      if (kind === "bruteforce") {
        index = new hnswlib.BruteforceSearch("ip", D);
        index.initIndex(n);
      } else {
        index = new hnswlib.HierarchicalNSW("ip", D);
        index.initIndex(n, 16, 100, 100);
      }
      // hnswlib-node takes plain arrays: the conversion is part of its cost.
      for (let i = 0; i < n; i++) index.addPoint(Array.from(row(data, i)), i);
      if (kind === "hnsw") index.setEf(128);
    },
    search: async (query) => index.searchKnn(query, K).neighbors.map(String),
    batch: async (queries) => queries.map((q) => index.searchKnn(q, K).neighbors.map(String)),
    bytesPerVector: () => undefined,
    free: () => { index = undefined; },
    plainQueries: true,
  };
}

const PEERS = {
  "mfn-float32": () => mfnPeer("float32", threads),
  "mfn-float16": () => mfnPeer("float16", threads),
  "mfn-int8": () => mfnPeer("int8", threads),
  "mfn-float32-1t": () => mfnPeer("float32", 1),
  "js-scan": () => jsScanPeer(),
  "hnswlib-bruteforce": () => hnswlibPeer("bruteforce"),
  "hnswlib-hnsw": () => hnswlibPeer("hnsw"),
};

async function runSize(n) {
  process.stderr.write(`== ${n} vectors\n`);
  const data = unitVectors(n, D, 1);
  const queryData = unitVectors(256, D, 2);
  const queries = Array.from({ length: 256 }, (_, i) => row(queryData, i));
  const plain = queries.map((q) => Array.from(q));
  let exact;  // mfn-float32's top-10 per query: the truth for recall
  const results = [];
  for (const name of Object.keys(PEERS)) {
    if (!wanted.has(name)) continue;
    if (name === "hnswlib-hnsw" && n > Number(args["hnsw-max"])) continue;
    if (name === "mfn-float32-1t" && n > 100000) continue;
    const peer = PEERS[name]();
    const before = rss();
    const t0 = performance.now();
    await peer.build(data, n);
    const buildSeconds = (performance.now() - t0) / 1000;
    const rssBytesPerVector = (rss() - before) / n;
    const qs = peer.plainQueries ? plain : queries;
    // Slow peers get fewer latency queries (at least 20).
    const slow = name === "js-scan" || name === "hnswlib-bruteforce";
    const count = Math.max(20, Math.min(Number(args.queries), slow ? Math.round(2e7 / n) : Number(args.queries)));
    const lat = await latencies(count, (i) => peer.search(qs[i % qs.length]));
    const batches = Math.floor(qs.length / BATCH);
    const tp = await throughput((b) => peer.batch(qs.slice((b % batches) * BATCH, (b % batches + 1) * BATCH)),
                                slow ? 0 : 2, 1);
    // Recall against mfn-float32's lists; the other exact peers are exact by construction.
    const approximate = name === "mfn-float16" || name === "mfn-int8" || name === "hnswlib-hnsw";
    let recallAt10 = approximate ? null : 1;
    if (name === "mfn-float32") exact = await peer.batch(qs);
    else if (approximate && exact) recallAt10 = recall(await peer.batch(qs), exact);
    const result = { name, n, buildSeconds, ...lat, ...tp, bytesPerVector: peer.bytesPerVector() ?? null,
                     rssBytesPerVector: Math.round(rssBytesPerVector), recallAt10 };
    results.push(result);
    process.stderr.write(`${JSON.stringify(result)}\n`);
    await peer.free();
    gc();
  }
  return results;
}

/**
 * Recall@10 against exact float32 on the cached LFW embeddings: even images
 * enrolled, odd ones query; float16, int8 and hnswlib's HNSW (same settings
 * as above).
 */
async function lfwRecall() {
  const lfw = lfwEmbeddings();
  if (!lfw) return null;
  const d = lfw.dimensions;
  const vec = (i) => lfw.vectors.subarray(i * d, (i + 1) * d);
  const enrolled = [];
  const queries = [];
  for (let i = 0; i < lfw.paths.length; i++) (i % 2 === 0 ? enrolled : queries).push(i);
  const lists = {};
  for (const precision of ["float32", "float16", "int8"]) {
    const g = await createGallery({ dimensions: d, precision, threads });
    for (const i of enrolled) g.add(String(i), vec(i));
    lists[precision] = [];
    for (let q = 0; q < queries.length; q += 1000) {
      const found = await g.searchBatch(queries.slice(q, q + 1000).map(vec), { k: K });
      lists[precision].push(...found.map((l) => l.map((m) => m.id)));
    }
    await g.dispose();
  }
  const peer = hnswlibPeer("hnsw");
  const packed = new Float32Array(enrolled.length * d);
  enrolled.forEach((i, j) => packed.set(vec(i), j * d));
  await peer.build(packed, enrolled.length);
  const hnsw = await peer.batch(queries.map((i) => Array.from(vec(i))));
  lists.hnsw = hnsw.map((ids) => ids.map((j) => String(enrolled[Number(j)])));
  return { gallery: enrolled.length, queries: queries.length, float16: recall(lists.float16, lists.float32),
           int8: recall(lists.int8, lists.float32), hnsw: recall(lists.hnsw, lists.float32) };
}

function bandwidth() {
  const tool = join(REPO, "build", "cpp", "gallery", "mfn_gallery_bw");
  try {
    return execFileSync(tool, ["1024", String(threads)], { encoding: "utf8" }).trim().split("\n").map((l) => JSON.parse(l));
  } catch (error) {
    return { error: String(error) };
  }
}

const report = {
  machine: machine(),
  command: `node --expose-gc bench/gallery/bench.mjs ${process.argv.slice(2).join(" ")}`,
  dimensions: D, k: K, batch: BATCH, mfnThreads: threads,
  hnsw: { M: 16, efConstruction: 100, ef: 128 },
  bandwidth: bandwidth(),
  sizes: [],
};
for (const n of args.sizes.split(",").map(Number)) report.sizes.push(...(await runSize(n)));
report.lfwRecall = await lfwRecall();
const json = JSON.stringify(report, null, 2);
if (args.out) writeFileSync(`${args.out}.json`, json + "\n");
else console.log(json);
