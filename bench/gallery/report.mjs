// Markdown tables of one or more gallery benchmark JSON files (bench.mjs):
//   node bench/gallery/report.mjs bench/results/gallery-2c.json [more.json] > out.md
// Ratios compare peers of the same file (the same run) only.
import { readFileSync } from "node:fs";

const fmt = (x, digits = 3) => (x === null || x === undefined ? "" : Number(x.toPrecision(digits)).toString());

for (const file of process.argv.slice(2)) {
  const r = JSON.parse(readFileSync(file, "utf8"));
  const m = r.machine;
  console.log(`### ${file.split("/").pop()}\n`);
  console.log(`${m.cpu}, ${m.cores} cores, ${m.simd.join(" ")}, ${m.memoryGiB} GiB; Node ${m.node}; commit \`${m.commit}\`` +
              `${m.dirty ? " (modified tree)" : ""}; load average at the end ${m.loadAverage.join(" ")}.`);
  console.log(`Command: \`${r.command}\`. ${r.dimensions} values per vector, k = ${r.k}, batches of ${r.batch}, ` +
              `mfn with ${r.mfnThreads} scan threads; HNSW M = ${r.hnsw.M}, efConstruction = ${r.hnsw.efConstruction}, ` +
              `ef = ${r.hnsw.ef}.\n`);
  if (Array.isArray(r.bandwidth)) {
    console.log(`Memory read bandwidth (mfn_gallery_bw, 1 GiB streamed): ` +
                r.bandwidth.map((b) => `${b.threads} thread${b.threads > 1 ? "s" : ""} ${fmt(b.gbPerSecond)} GB/s`).join(", ") + ".\n");
  }
  const bw = Array.isArray(r.bandwidth) ? Math.max(...r.bandwidth.map((b) => b.gbPerSecond)) : undefined;
  console.log("| vectors | peer | build s | query p50 ms | p99 ms | batch-64 queries/s | vs JS scan | vs hnswlib brute force | bytes/vector (stored) | RSS bytes/vector | recall@10 vs exact | scan bound ms |");
  console.log("|---|---|---|---|---|---|---|---|---|---|---|---|");
  for (const n of [...new Set(r.sizes.map((s) => s.n))]) {
    const rows = r.sizes.filter((s) => s.n === n);
    const js = rows.find((s) => s.name === "js-scan");
    const bf = rows.find((s) => s.name === "hnswlib-bruteforce");
    for (const s of rows) {
      const bound = bw && s.bytesPerVector ? fmt((s.bytesPerVector * n) / (bw * 1e9) * 1e3) : "";
      console.log(`| ${n.toLocaleString("en")} | ${s.name} | ${fmt(s.buildSeconds)} | ${fmt(s.p50Ms)} | ${fmt(s.p99Ms)} | ` +
                  `${fmt(s.batchQps)} | ${js ? fmt(s.batchQps / js.batchQps) + "x" : ""} | ` +
                  `${bf ? fmt(s.batchQps / bf.batchQps) + "x" : ""} | ${s.bytesPerVector ?? ""} | ${s.rssBytesPerVector} | ` +
                  `${fmt(s.recallAt10, 4)} | ${s.name.startsWith("mfn") ? bound : ""} |`);
    }
  }
  if (r.lfwRecall) {
    console.log(`\nRecall@10 against exact float32 on LFW embeddings (${r.lfwRecall.gallery} enrolled, ` +
                `${r.lfwRecall.queries} queries): float16 ${fmt(r.lfwRecall.float16, 5)}, int8 ${fmt(r.lfwRecall.int8, 5)}` +
                `${r.lfwRecall.hnsw === undefined ? "" : `, hnswlib HNSW ${fmt(r.lfwRecall.hnsw, 5)}`}.`);
  }
  console.log("");
}
