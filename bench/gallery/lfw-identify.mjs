// LFW 1:N identification with the gallery, on the cached embeddings of
// lfw-embeddings.mjs (the 7,701 stored images, aligned, flip on):
//   gallery: the first image (by file name) of every identity with two or
//            more images; mated probes: their other images;
//   non-mated probes: the images of identities with one image (never enrolled).
// Closed set: rank-1 and rank-5 identification rate of the mated probes.
// Open set: TPIR at FPIR = 1%, 10-fold: identities are split into 10 folds
// (every 10th name); each fold's threshold is calibrated on the non-mated
// probes of the other nine (the top-1 similarity that 1% of them exceed)
// and applied to the fold's own probes. A mated probe counts as identified
// when its top-1 match is the right identity and exceeds the threshold.
//   node bench/gallery/lfw-identify.mjs --out bench/results/gallery-lfw-identification
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { createGallery } from "../../dist/index.js";
import { lfwEmbeddings, machine } from "./common.mjs";

const { values: args } = parseArgs({ options: { out: { type: "string" }, threads: { type: "string", default: "2" } } });
const lfw = lfwEmbeddings();
if (!lfw) {
  console.error("no cached LFW embeddings: run node bench/gallery/lfw-embeddings.mjs first");
  process.exit(1);
}
const d = lfw.dimensions;
const vector = (i) => lfw.vectors.subarray(i * d, (i + 1) * d);

const byIdentity = new Map();
lfw.paths.forEach((path, i) => {
  const who = path.split("/")[0];
  if (!byIdentity.has(who)) byIdentity.set(who, []);
  byIdentity.get(who).push(i);
});
const names = [...byIdentity.keys()].sort();
const foldOf = new Map(names.map((name, i) => [name, i % 10]));
const enrolled = names.filter((n) => byIdentity.get(n).length >= 2);
const mated = enrolled.flatMap((n) => byIdentity.get(n).slice(1).map((i) => ({ i, who: n })));
const nonMated = names.filter((n) => byIdentity.get(n).length === 1).map((n) => ({ i: byIdentity.get(n)[0], who: n }));

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const std = (xs) => Math.sqrt(mean(xs.map((x) => (x - mean(xs)) ** 2)));

async function evaluate(precision) {
  const gallery = await createGallery({ dimensions: d, precision, threads: Number(args.threads) });
  for (const name of enrolled) gallery.add(name, vector(byIdentity.get(name)[0]));
  const search = async (probes) => {
    const out = [];
    for (let s = 0; s < probes.length; s += 1000) {
      out.push(...(await gallery.searchBatch(probes.slice(s, s + 1000).map((p) => vector(p.i)), { k: 5 })));
    }
    return out;
  };
  const matedTop = await search(mated);
  const nonMatedTop = await search(nonMated);
  await gallery.dispose();

  const rank1 = mated.filter((p, j) => matedTop[j][0].id === p.who).length / mated.length;
  const rank5 = mated.filter((p, j) => matedTop[j].some((m) => m.id === p.who)).length / mated.length;
  const folds = [];
  for (let f = 0; f < 10; f++) {
    const calibration = nonMated.map((p, j) => ({ p, s: nonMatedTop[j][0].similarity }))
      .filter(({ p }) => foldOf.get(p.who) !== f).map(({ s }) => s).sort((a, b) => b - a);
    const threshold = calibration[Math.floor(0.01 * calibration.length)];
    const matedHere = mated.map((p, j) => ({ p, top: matedTop[j][0] })).filter(({ p }) => foldOf.get(p.who) === f);
    const nonMatedHere = nonMated.map((p, j) => ({ p, s: nonMatedTop[j][0].similarity }))
      .filter(({ p }) => foldOf.get(p.who) === f);
    folds.push({
      fold: f, threshold, matedProbes: matedHere.length, nonMatedProbes: nonMatedHere.length,
      tpir: matedHere.filter(({ p, top }) => top.id === p.who && top.similarity > threshold).length / matedHere.length,
      fpir: nonMatedHere.filter(({ s }) => s > threshold).length / nonMatedHere.length,
    });
  }
  return {
    precision, rank1, rank5,
    tpirAtFpir1: { mean: mean(folds.map((f) => f.tpir)), std: std(folds.map((f) => f.tpir)) },
    fpirMeasured: { mean: mean(folds.map((f) => f.fpir)), std: std(folds.map((f) => f.fpir)) },
    threshold: { mean: mean(folds.map((f) => f.threshold)), std: std(folds.map((f) => f.threshold)) },
    folds,
  };
}

function markdown(r, name) {
  const p = (x) => `${(100 * x).toFixed(2)}%`;
  const rows = r.results.map((x) =>
    `| ${x.precision} | ${p(x.rank1)} | ${p(x.rank5)} | ${p(x.tpirAtFpir1.mean)} ± ${(100 * x.tpirAtFpir1.std).toFixed(2)} | ` +
    `${p(x.fpirMeasured.mean)} ± ${(100 * x.fpirMeasured.std).toFixed(2)} | ${x.threshold.mean.toFixed(4)} ± ${x.threshold.std.toFixed(4)} |`);
  const m = r.machine;
  return `# LFW 1:N identification with the gallery

| | |
|---|---|
| machine | ${m.cpu}, ${m.cores} cores, ${m.simd.join(" ")}, ${m.memoryGiB} GiB, Node ${m.node} |
| commit | \`${m.commit}\`${m.dirty ? " (modified tree)" : ""} |
| command | \`node bench/gallery/lfw-embeddings.mjs\` (once: caches the embeddings under build/gallery-lfw/), then \`${r.command}\` |
| data | ${r.data}; ${r.identities} identities |
| gallery | the first image (by file name) of each of the ${r.enrolled} identities with two or more images |
| probes | ${r.matedProbes} mated (the other images of enrolled identities), ${r.nonMatedProbes} non-mated (images of identities with one image, never enrolled) |

Closed set: rank-k is the share of mated probes whose identity is among the top k matches. Open set, 10-fold: the
identities are split into 10 folds (every 10th name); the threshold of a fold is the top-1 similarity that 1% of the
non-mated probes of the other nine folds exceed; on the probes of the fold itself, TPIR is the share of mated probes
whose top-1 match is the right identity and above the threshold, FPIR the share of non-mated probes whose top-1
similarity is above it. Mean ± population std over the folds.

| precision | rank-1 | rank-5 | TPIR @ FPIR = 1% | measured FPIR | threshold (cosine) |
|---|---|---|---|---|---|
${rows.join("\n")}

Per-fold figures: [${name}.json](${name}.json). The images are the deep-funneled release with landmarks detected on
them (see the Accuracy section of the README), so these figures are not directly comparable to identification
figures on other LFW crops.
`;
}

const report = {
  machine: machine(),
  command: `node bench/gallery/lfw-identify.mjs ${process.argv.slice(2).join(" ")}`,
  data: "LFW deep-funneled, the 7,701 images of pairs.txt, aligned with lfw_landmark_deepfunneled.txt, flip on",
  identities: names.length, enrolled: enrolled.length, matedProbes: mated.length, nonMatedProbes: nonMated.length,
  results: [],
};
for (const precision of ["float32", "float16", "int8"]) report.results.push(await evaluate(precision));
const json = JSON.stringify(report, null, 2);
if (args.out) {
  writeFileSync(`${args.out}.json`, json + "\n");
  writeFileSync(`${args.out}.md`, markdown(report, args.out.split("/").pop()));
}
for (const r of report.results) {
  console.log(`${r.precision}: rank-1 ${(100 * r.rank1).toFixed(2)}%, rank-5 ${(100 * r.rank5).toFixed(2)}%, ` +
              `TPIR@FPIR=1% ${(100 * r.tpirAtFpir1.mean).toFixed(2)}% ± ${(100 * r.tpirAtFpir1.std).toFixed(2)} ` +
              `(measured FPIR ${(100 * r.fpirMeasured.mean).toFixed(2)}%, threshold ${r.threshold.mean.toFixed(4)})`);
}
console.log(`${report.identities} identities, ${report.enrolled} enrolled, ${report.matedProbes} mated and ` +
            `${report.nonMatedProbes} non-mated probes`);
