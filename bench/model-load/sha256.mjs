#!/usr/bin/env node
// What the manifest's sha256 check costs createEmbedder: the bundled model
// loaded with its manifest (checked) and from a copy whose manifest has no
// sha256 (not checked), alternating in the same run; best and median of
// each over the repetitions (default 15).
//   node bench/model-load/sha256.mjs [repetitions]
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { createEmbedder } from "../../dist/index.js";
import { packageRoot } from "../../dist/native.js";

const repetitions = Number(process.argv[2] ?? 15);
const checked = join(packageRoot, "models", "mobilefacenet.onnx");
const dir = mkdtempSync(join(tmpdir(), "mfn-sha-bench-"));
const unchecked = join(dir, "mobilefacenet.onnx");
copyFileSync(checked, unchecked);
const manifest = JSON.parse(readFileSync(join(packageRoot, "models", "manifest.json"), "utf8"));
delete manifest.sha256;
writeFileSync(join(dir, "manifest.json"), JSON.stringify(manifest));

async function loadMs(model) {
  const t0 = process.hrtime.bigint();
  const mfn = await createEmbedder({ backend: "cpu", model, threads: 1 });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  await mfn.dispose();
  return ms;
}

const times = { checked: [], unchecked: [] };
await loadMs(checked);  // warm-up: page cache, addon load
for (let i = 0; i < repetitions; i++) {
  times.checked.push(await loadMs(checked));
  times.unchecked.push(await loadMs(unchecked));
}
rmSync(dir, { recursive: true, force: true });
const stats = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return { best: s[0], median: s[s.length >> 1] };
};
const c = stats(times.checked), u = stats(times.unchecked);
console.log(JSON.stringify({
  repetitions, bytes: readFileSync(checked).length,
  checkedMs: c, uncheckedMs: u,
  medianCostMs: c.median - u.median, medianRatio: c.median / u.median,
}, null, 2));
