// Caller-owned memory: a call embeds the pixels (or encoded bytes) as they
// were when it was made, whatever the caller does to its buffers afterwards
// (reuse, resize, transfer), and nothing the caller does to its memory can
// crash the process. SharedArrayBuffer-backed views work like any other.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, createEmbedder } from "../src/index.js";
import { packageRoot } from "../src/native.js";
import { noiseImage, smoothImage } from "./helpers/tensors.js";

const gypBuild = createRequire(import.meta.url).resolve("node-gyp-build");

function expectSameBits(actual: Float32Array, expected: Float32Array): void {
  expect(Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength)
    .equals(Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength))).toBe(true);
}

// Resizable ArrayBuffers (ES2024), beyond the TypeScript lib this package targets.
interface ResizableArrayBuffer extends ArrayBuffer {
  resize(byteLength: number): void;
}
const ResizableArrayBuffer = ArrayBuffer as unknown as new (length: number, options: { maxByteLength: number }) =>
  ResizableArrayBuffer;

/** `bytes` copied into a length-tracking view of a resizable ArrayBuffer. */
function resizable(bytes: Uint8Array): { view: Uint8Array; buffer: ResizableArrayBuffer } {
  const buffer = new ResizableArrayBuffer(bytes.byteLength, { maxByteLength: bytes.byteLength * 2 });
  const view = new Uint8Array(buffer);
  view.set(bytes);
  return { view, buffer };
}

function shared(bytes: Uint8Array): Uint8Array {
  const view = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  view.set(bytes);
  return view;
}

describe("input lifetime: the pixels as they were when the call was made", () => {
  let mfn: Embedder;
  const face = smoothImage(160, 140);
  let png: Buffer;
  let expectedRaw: Float32Array;
  let expectedPng: Float32Array;

  beforeAll(async () => {
    // A long delay: every call below waits in the queue while the caller
    // changes its buffers.
    mfn = await createEmbedder({ backend: "cpu", maxDelayUs: 50_000 });
    png = await sharp(face.data, { raw: { width: face.width, height: face.height, channels: 3 } }).png().toBuffer();
    expectedRaw = await mfn.embed({ ...face, data: face.data.slice() });
    expectedPng = await mfn.embed(Buffer.from(png));
  });

  afterAll(async () => {
    await mfn?.dispose();
  });

  it("raw pixels overwritten right after embed(), embedBatch() and verify()", async () => {
    const frame = face.data.slice();
    const single = mfn.embed({ ...face, data: frame });
    const batch = mfn.embedBatch([{ ...face, data: frame }, Buffer.from(png)]);
    const verdict = mfn.verify({ ...face, data: frame }, expectedRaw);
    frame.fill(0); // the caller reuses its frame buffer for the next frame
    expectSameBits(await single, expectedRaw);
    const [fromRaw, fromPng] = await batch;
    expectSameBits(fromRaw!, expectedRaw);
    expectSameBits(fromPng!, expectedPng);
    expect((await verdict).similarity).toBeCloseTo(1, 5);
  });

  it("encoded bytes in a pooled Buffer overwritten while they are decoded", async () => {
    const jpeg = await sharp(face.data, { raw: { width: face.width, height: face.height, channels: 3 } })
      .jpeg({ quality: 30 }).toBuffer();
    const expected = await mfn.embed(Buffer.from(jpeg));
    const bytes = Buffer.allocUnsafe(jpeg.byteLength); // under 4 KiB: a slice of Node's shared pool
    expect(bytes.buffer.byteLength).toBeGreaterThan(bytes.byteLength);
    jpeg.copy(bytes);
    const call = mfn.embed(bytes);
    Buffer.allocUnsafe(bytes.byteLength).fill(0); // the next user of the pool
    bytes.fill(0);
    expectSameBits(await call, expected);
  });

  it("a resizable ArrayBuffer shrunk after the call, raw and encoded", async () => {
    const raw = resizable(face.data);
    const encoded = resizable(png);
    const calls = [mfn.embed({ ...face, data: raw.view }), mfn.embed(encoded.view)];
    raw.buffer.resize(0);
    encoded.buffer.resize(8);
    const [fromRaw, fromPng] = await Promise.all(calls);
    expectSameBits(fromRaw!, expectedRaw);
    expectSameBits(fromPng!, expectedPng);
  });

  it("a buffer transferred away right after the call", async () => {
    const frame = face.data.slice();
    const bytes = Uint8Array.from(png);
    const calls = [mfn.embed({ ...face, data: frame }), mfn.embed(bytes)];
    structuredClone([frame.buffer, bytes.buffer], { transfer: [frame.buffer, bytes.buffer] });
    expect(frame.byteLength).toBe(0);
    const [fromRaw, fromPng] = await Promise.all(calls);
    expectSameBits(fromRaw!, expectedRaw);
    expectSameBits(fromPng!, expectedPng);
  });

  it("SharedArrayBuffer-backed pixels and encoded bytes work", async () => {
    expectSameBits(await mfn.embed({ ...face, data: shared(face.data) }), expectedRaw);
    expectSameBits(await mfn.embed(shared(png)), expectedPng);
    const [row] = await mfn.embedBatch([{ ...face, data: shared(face.data) }]);
    expectSameBits(row!, expectedRaw);
    const input = await mfn.preprocess({ ...face, data: shared(face.data) });
    expect(input).toEqual(await mfn.preprocess(face));
  });
});

/** Runs `source` against the addon itself in a fresh node process with --expose-gc. */
function runChild(source: string) {
  const prelude = `
    const { createRequire } = await import("node:module");
    const binding = createRequire(${JSON.stringify(gypBuild)})(${JSON.stringify(gypBuild)})(${JSON.stringify(packageRoot)});
    const engine = await binding.createEngine({
      modelPath: ${JSON.stringify(`${packageRoot}/models/mobilefacenet.onnx`)}, manifestPath: "", backend: "cpu",
      threads: 1, device: 0, maxBatch: 8, maxDelayUs: 200000 });
    const out = () => new Float32Array(512);
  `;
  return spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", prelude + source],
                   { encoding: "utf8", timeout: 120_000 });
}

describe("caller memory released while a call is queued (child process)", () => {
  it("a 64 MB frame transferred and collected, a resizable frame shrunk, results detached", () => {
    // Large buffers come straight from mmap: once freed, reading them faults.
    const { data } = noiseImage(16, 16, 3, 1);
    const child = runChild(`
      const side = 4096;
      const seed = Uint8Array.from(${JSON.stringify(Array.from(data))});
      const frame = new Uint8Array(side * side * 4).map((_, i) => seed[i % seed.length]);
      const rab = new ArrayBuffer(side * side * 4, { maxByteLength: side * side * 4 });
      new Uint8Array(rab).set(frame);
      const image = (data) => ({ data, width: side, height: side, channels: 4, order: "rgb" });
      const transferred = engine.embed([image(frame)], true, out());
      const shrunk = engine.embed([image(new Uint8Array(rab))], true, out());
      const results = out();
      const detachedOut = engine.embed([image(new Uint8Array(rab.slice(0)))], true, results);
      structuredClone(frame.buffer, { transfer: [frame.buffer] });
      rab.resize(0);
      structuredClone(results.buffer, { transfer: [results.buffer] });
      globalThis.gc();
      const settled = await Promise.allSettled([transferred, shrunk, detachedOut]);
      await engine.dispose();
      console.log(JSON.stringify(settled.map((s) => s.status === "fulfilled" ? "ok" : s.reason.code)));
    `);
    expect(child.stderr).toBe("");
    expect(child.signal).toBeNull();
    expect(child.status).toBe(0);
    // The pixels were taken at call time; the detached result buffer cannot receive rows.
    expect(JSON.parse(child.stdout)).toEqual(["ok", "ok", "MFN_INVALID_ARGUMENT"]);
  });
});

describe("a call naming the same buffer many times (child process)", () => {
  it("copies and decodes it once: 64 references to a 128 MiB frame and to a 48 MiB-decoded PNG stay under 1.5 GiB", () => {
    const child = spawnSync(process.execPath, ["--input-type=module", "-e", `
      const { createEmbedder } = await import(${JSON.stringify(`${packageRoot}/dist/index.js`)});
      const sharp = (await import(${JSON.stringify(createRequire(import.meta.url).resolve("sharp"))})).default;
      const mfn = await createEmbedder({ backend: "cpu", flip: false });
      const frame = { data: new Uint8Array(8192 * 4096 * 4).fill(120), width: 8192, height: 4096, channels: 4 };
      const png = await sharp({ create: { width: 4000, height: 4000, channels: 3, background: "#7a8090" } }).png().toBuffer();
      const raw = await mfn.embedBatch(Array.from({ length: 64 }, () => frame));           // the binding's copy
      const mixed = await mfn.embedBatch([...Array.from({ length: 64 }, () => frame),      // copied in TypeScript too
                                          ...Array.from({ length: 64 }, () => png)]);      // decoded once
      await mfn.dispose();
      const same = raw.every((row) => row.every((x, k) => x === raw[0][k]));
      console.log(JSON.stringify({ rows: raw.length + mixed.length, same, maxRssMiB: process.resourceUsage().maxRSS / 1024 }));
    `], { encoding: "utf8", timeout: 240_000 });
    expect(child.stderr).toBe("");
    expect(child.status).toBe(0);
    const result = JSON.parse(child.stdout) as { rows: number; same: boolean; maxRssMiB: number };
    expect(result.rows).toBe(192);
    expect(result.same).toBe(true);
    console.log(`max RSS ${result.maxRssMiB.toFixed(0)} MiB`);
    expect(result.maxRssMiB).toBeLessThan(1536);
  });
});
