#!/usr/bin/env node
// Decodes real LFW faces into the pixel file the C++ tests read
// (cpp/tests/test_data.h): the central 160x160 of each 250x250 deep-funneled
// image, resized to 128x128, BGR, with its five landmarks mapped into crop
// coordinates. The engine resizes/aligns these like any caller image.
// usage: node scripts/make-test-crops.mjs [--lfw DIR] [--out FILE] [--count N]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import sharp from "sharp";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const { values } = parseArgs({
  options: {
    lfw: { type: "string", default: resolve(root, "..", "shared", "data", "lfw") },
    out: { type: "string", default: join(root, "build", "lfw-crops.bin") },
    count: { type: "string", default: "256" },
  },
});
const count = Number(values.count);
const CROP = { left: 45, top: 45, size: 160 };
const SIZE = 128;

const landmarks = new Map();
for (const line of readFileSync(join(values.lfw, "lfw_landmark_deepfunneled.txt"), "utf8").split("\n")) {
  const [path, ...coords] = line.trim().split(/\s+/);
  if (coords.length === 10) landmarks.set(path, coords.map(Number));
}
// A spread of distinct images from the pairs protocol (every image there has landmarks).
const pairsImages = readFileSync(join(values.lfw, "pairs_images.txt"), "utf8").split("\n").filter(Boolean);
const chosen = pairsImages.filter((p) => landmarks.has(p)).filter((_, i, all) => i % Math.max(1, Math.floor(all.length / count)) === 0).slice(0, count);
if (chosen.length < count) throw new Error(`only ${chosen.length} LFW images with landmarks found in ${values.lfw}`);

const u32 = (v) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); return b; };
const parts = [Buffer.from("MFNCROP1"), u32(chosen.length), u32(SIZE), u32(SIZE), u32(3)];
const scale = SIZE / CROP.size;
for (const path of chosen) {
  const rgb = await sharp(join(values.lfw, "lfw-deepfunneled", path))
    .extract({ left: CROP.left, top: CROP.top, width: CROP.size, height: CROP.size })
    .resize(SIZE, SIZE, { kernel: "linear" })
    .removeAlpha()
    .raw()
    .toBuffer();
  const bgr = Buffer.alloc(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) { bgr[i] = rgb[i + 2]; bgr[i + 1] = rgb[i + 1]; bgr[i + 2] = rgb[i]; }
  // Pixel centres: crop x = (x - left + 0.5) * scale - 0.5.
  const marks = landmarks.get(path).map((v, k) => (v - (k % 2 === 0 ? CROP.left : CROP.top) + 0.5) * scale - 0.5);
  const name = Buffer.from(path);
  parts.push(u32(name.length), name, Buffer.from(new Float32Array(marks).buffer), bgr);
}
mkdirSync(dirname(values.out), { recursive: true });
writeFileSync(values.out, Buffer.concat(parts));
console.log(`wrote ${chosen.length} crops (${SIZE}x${SIZE} BGR) to ${values.out}`);
