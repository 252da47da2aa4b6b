// Embeds every stored LFW image (the 7,701 of pairs_images.txt, aligned with
// their five landmarks, flip on) once and
// caches the embeddings under build/gallery-lfw/ for the gallery benchmark
// and the identification evaluation. LFW-derived data never leaves build/
// (which git ignores). Usage: node bench/gallery/lfw-embeddings.mjs
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

import { createEmbedder } from "../../dist/index.js";
import { embedImages } from "../../dist/eval/evaluate.js";
import { parseLandmarks } from "../../dist/eval/pairs.js";
import { CACHE_DIR, LFW_DIR } from "./common.mjs";

const landmarks = parseLandmarks(readFileSync(join(LFW_DIR, "lfw_landmark_deepfunneled.txt"), "utf8"));
const paths = readFileSync(join(LFW_DIR, "pairs_images.txt"), "utf8").split(/\r?\n/).filter((l) => l.trim() !== "").sort();
mkdirSync(CACHE_DIR, { recursive: true });
const embedder = await createEmbedder({ backend: "cpu", threads: 2 });
let last = 0;
const { embeddings, seconds } = await embedImages(embedder, paths, {
  imagesDir: join(LFW_DIR, "lfw-deepfunneled"),
  landmarks,
  flip: true,
  batch: 32,
  onProgress: (done, total) => {
    if (done - last >= 1000 || done === total) {
      last = done;
      process.stderr.write(`${done}/${total}\n`);
    }
  },
});
await embedder.dispose();
const d = embedder.dimensions;
const all = new Float32Array(paths.length * d);
paths.forEach((p, i) => all.set(embeddings.get(p), i * d));
writeFileSync(join(CACHE_DIR, "embeddings.f32"), Buffer.from(all.buffer));
writeFileSync(join(CACHE_DIR, "paths.json"), JSON.stringify({ dimensions: d, paths }));
console.log(`${paths.length} embeddings of ${d} values in ${seconds.toFixed(1)} s -> ${CACHE_DIR}`);
if (!existsSync(join(CACHE_DIR, "embeddings.f32"))) process.exit(1);
