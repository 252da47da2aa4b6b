#!/usr/bin/env node
// Measures how the detector's eyes, nose tip and mouth centre sit relative to
// 5-point landmarks of the usual (MTCNN-style) kind, for models/detector.json
// "alignPoints": on the LFW images of one fold (default fold 1 of pairs.txt,
// so that the other nine stay unseen), each photo's given five landmarks fix
// a face frame (the least-squares similarity onto the ArcFace template); the
// detector's four points of the annotated face and the given points are
// mapped into it, and the mean offset between them is added to the
// template's eyes, nose and mouth centre. The engine removes that offset
// from every detection (core/detection.h, to_face).
// usage: node scripts/calibrate-detector.mjs [--lfw DIR] [--fold N] [--write]   (needs the built addon and dist/)
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    lfw: { type: "string", default: resolve(root, "..", "shared", "data", "lfw") },
    fold: { type: "string", default: "1" },
    write: { type: "boolean", default: false },
  },
});
const { nativeBinding } = await import(join(root, "dist", "native.js"));
const { toNativeImage } = await import(join(root, "dist", "inputs.js"));
const { parsePairs, parseLandmarks, distinctImages } = await import(join(root, "dist", "eval", "pairs.js"));

// ArcFace 112x112 template (cpp/core/align.cc): eyes, nose, mouth corners.
const TEMPLATE = [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]];

/** Least-squares similarity (rotation, uniform scale, translation) mapping src onto dst. */
function similarity(src, dst) {
  const n = src.length;
  const mean = (pts, k) => pts.reduce((s, p) => s + p[k], 0) / n;
  const [sx, sy, dx, dy] = [mean(src, 0), mean(src, 1), mean(dst, 0), mean(dst, 1)];
  let num_a = 0, num_b = 0, den = 0;
  for (let i = 0; i < n; i++) {
    const px = src[i][0] - sx, py = src[i][1] - sy, qx = dst[i][0] - dx, qy = dst[i][1] - dy;
    num_a += px * qx + py * qy;
    num_b += px * qy - py * qx;
    den += px * px + py * py;
  }
  const a = num_a / den, b = num_b / den;
  return (p) => [a * p[0] - b * p[1] + dx - (a * sx - b * sy), b * p[0] + a * p[1] + dy - (b * sx + a * sy)];
}

const fold = Number(values.fold) - 1;
const protocol = parsePairs(readFileSync(join(values.lfw, "pairs.txt"), "utf8"));
const landmarks = parseLandmarks(readFileSync(join(values.lfw, "lfw_landmark_deepfunneled.txt"), "utf8"));
const paths = distinctImages(protocol.pairs.filter((p) => p.fold === fold));
const engine = await nativeBinding().createEngine({
  modelPath: join(root, "models", "mobilefacenet.onnx"), manifestPath: "", backend: "cpu", threads: 0, device: 0,
  maxBatch: 8, detectorPath: join(root, "models", "blazeface_back_256.onnx"),
});
const sum = new Array(8).fill(0);
let used = 0;
for (const path of paths) {
  const truth = landmarks.get(path);
  const image = await toNativeImage(readFileSync(join(values.lfw, "lfw-deepfunneled", path)), path);
  const faces = await engine.detect(image, 256, 0.5);
  const iod = Math.hypot(truth[1][0] - truth[0][0], truth[1][1] - truth[0][1]);
  for (let f = 0; f < faces.boxes.length / 5; f++) {
    const k = faces.keypoints.subarray(f * 12, f * 12 + 8);
    if (Math.hypot(k[0] - truth[0][0], k[1] - truth[0][1]) > 0.25 * iod ||
        Math.hypot(k[2] - truth[1][0], k[3] - truth[1][1]) > 0.25 * iod) continue;
    const toTemplate = similarity(truth, TEMPLATE);
    const given = [truth[0], truth[1], truth[2], [(truth[3][0] + truth[4][0]) / 2, (truth[3][1] + truth[4][1]) / 2]];
    for (let p = 0; p < 4; p++) {
      const [x, y] = toTemplate([k[2 * p], k[2 * p + 1]]);
      const [gx, gy] = toTemplate(given[p]);
      sum[2 * p] += x - gx;
      sum[2 * p + 1] += y - gy;
    }
    used++;
    break;
  }
}
await engine.dispose();
// The template's eyes, nose and mouth centre, moved by the detector's mean
// offset from the given points.
const base = [...TEMPLATE[0], ...TEMPLATE[1], ...TEMPLATE[2],
  (TEMPLATE[3][0] + TEMPLATE[4][0]) / 2, (TEMPLATE[3][1] + TEMPLATE[4][1]) / 2];
const alignPoints = sum.map((v, i) => Math.round((base[i] + v / used) * 1e4) / 1e4);
console.log(`fold ${fold + 1}: ${used} of ${paths.length} images; alignPoints ${JSON.stringify(alignPoints)}`);
if (values.write) {
  const file = join(root, "models", "detector.json");
  const manifest = JSON.parse(readFileSync(file, "utf8"));
  manifest.alignPoints = alignPoints;
  manifest.alignPointsSource = `scripts/calibrate-detector.mjs: LFW fold ${fold + 1} (${used} images)`;
  writeFileSync(file, JSON.stringify(manifest, null, 2) + "\n");
  console.log(`wrote ${file}`);
}
