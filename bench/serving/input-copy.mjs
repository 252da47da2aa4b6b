#!/usr/bin/env node
// The cost of taking inputs at call time (README, "Input lifetime and
// limits"): the binding copies raw pixels, src/inputs.ts copies encoded bytes
// before sharp decodes them. For each input size, in the same process and
// interleaved: the copy alone (a typed-array copy of the same bytes, what the
// binding's memcpy does) against a whole embed() of that input, flip on,
// batch 1, maxDelayUs 0; medians over the repetitions.
//
//   node bench/serving/input-copy.mjs [--reps 40] [--threads 0] [--json bench/results/input-copy.json]
import sharp from "sharp";

import { createEmbedder } from "../../dist/index.js";
import { median, parseFlags, provenance, writeResult } from "./common.mjs";

const flags = parseFlags({ reps: 40, threads: 0, json: "" });
const mfn = await createEmbedder({ backend: "cpu", threads: flags.threads, maxDelayUs: 0 });

function pixels(width, height, channels) {
  const data = new Uint8Array(width * height * channels);
  let a = width * 31 + height;
  for (let i = 0; i < data.length; i++) {
    a = (a * 1103515245 + 12345) >>> 0;
    data[i] = a >>> 24;
  }
  return { data, width, height, channels };
}

const raw = [[112, 112, 3], [640, 480, 3], [1920, 1080, 3], [4096, 4096, 4]].map(([w, h, c]) => ({
  name: `raw ${w}x${h}x${c}`, input: pixels(w, h, c), bytes: w * h * c,
}));
const photo = pixels(250, 250, 3);
const jpeg = await sharp(photo.data, { raw: { width: 250, height: 250, channels: 3 } }).jpeg({ quality: 90 }).toBuffer();
const cases = [...raw, { name: `JPEG 250x250 (${jpeg.byteLength} bytes)`, input: jpeg, bytes: jpeg.byteLength }];

function copyMs(source) {
  const t = performance.now();
  new Uint8Array(source.byteLength).set(source);
  return performance.now() - t;
}

async function embedMs(input) {
  const t = performance.now();
  await mfn.embed(input);
  return performance.now() - t;
}

for (const c of cases) await embedMs(c.input); // warm-up
const rows = [];
for (const c of cases) {
  const source = c.input instanceof Uint8Array ? c.input : c.input.data;
  const copies = [];
  const embeds = [];
  for (let r = 0; r < flags.reps; r++) {
    copies.push(copyMs(source));
    embeds.push(await embedMs(c.input));
  }
  const copy = median(copies);
  const embed = median(embeds);
  rows.push({ input: c.name, bytes: c.bytes, copyMs: copy, embedMs: embed, copyShare: copy / embed });
  console.log(`${c.name.padEnd(30)} copy ${copy.toFixed(3).padStart(7)} ms   embed ${embed.toFixed(2).padStart(7)} ms   ` +
              `copy / embed ${(100 * copy / embed).toFixed(2)}%`);
}
await mfn.dispose();
if (flags.json) writeResult(flags.json, { ...provenance(), reps: flags.reps, threads: flags.threads, rows });
