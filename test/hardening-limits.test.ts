// Limits a caller cannot get around: only the formats the README lists
// (JPEG, PNG, WebP) are decoded, no image of more than MAX_PIXELS pixels
// is decoded or copied, `threads` has one bound (MAX_THREADS) in TypeScript
// and in the binding, and the maxQueue contract (a call is admitted while
// fewer than maxQueue images wait, whatever its size) holds.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, MAX_PIXELS, MAX_THREADS, createEmbedder } from "../src/index.js";
import { nativeBinding, packageRoot } from "../src/native.js";
import { codeOf } from "./helpers/errors.js";
import { noiseImage } from "./helpers/tensors.js";

describe("formats and pixel limits", () => {
  let mfn: Embedder;

  beforeAll(async () => {
    mfn = await createEmbedder({ backend: "cpu" });
  });

  afterAll(async () => {
    await mfn?.dispose();
  });

  const face = noiseImage(64, 64, 3, 5);
  const encode = (format: "jpeg" | "png" | "webp" | "gif" | "tiff") =>
    sharp(face.data, { raw: { width: 64, height: 64, channels: 3 } }).toFormat(format).toBuffer();

  it("decodes JPEG, PNG and WebP", async () => {
    for (const format of ["jpeg", "png", "webp"] as const) {
      const embedding = await mfn.embed(await encode(format));
      expect(Math.hypot(...embedding)).toBeCloseTo(1, 5);
    }
  });

  it("refuses every other format with MFN_DECODE_FAILED, an SVG of 16000x16000 at once", async () => {
    const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="16000" height="16000"><rect ' +
                            'width="16000" height="16000" fill="red"/></svg>');
    const started = performance.now();
    expect(await codeOf(mfn.embed(svg))).toBe("MFN_DECODE_FAILED");
    expect(performance.now() - started).toBeLessThan(1_000);
    for (const format of ["gif", "tiff"] as const) expect(await codeOf(mfn.embed(await encode(format)))).toBe("MFN_DECODE_FAILED");
    expect(await codeOf(mfn.embedBatch([await encode("png"), Buffer.from("GIF89a....")]))).toBe("MFN_DECODE_FAILED");
  });

  it("refuses images of more than MAX_PIXELS pixels, encoded and raw, before decoding or copying them", async () => {
    expect(MAX_PIXELS).toBe(2 ** 25);
    const side = 6000; // 36 megapixels
    const png = await sharp({ create: { width: side, height: side, channels: 3, background: "#808080" } })
      .png().toBuffer();
    expect(await codeOf(mfn.embed(png))).toBe("MFN_INVALID_DIMENSIONS");
    const raw = { data: new Uint8Array(side * side * 3), width: side, height: side, channels: 3 } as const;
    expect(await codeOf(mfn.embed(raw))).toBe("MFN_INVALID_DIMENSIONS");
    // The binding applies the same bound to whoever calls it.
    const engine = await nativeBinding().createEngine({
      modelPath: `${packageRoot}/models/mobilefacenet.onnx`, manifestPath: "", backend: "cpu", threads: 1, device: 0,
      maxBatch: 1 });
    try {
      expect(() => engine.embed([{ ...raw, order: "rgb" }], true, new Float32Array(512)))
        .toThrow(expect.objectContaining({ code: "MFN_INVALID_DIMENSIONS", message: expect.stringContaining(`${MAX_PIXELS}`) }));
      // 2^25 pixels exactly is allowed.
      const edge = { data: new Uint8Array(8192 * 4096 * 3), width: 8192, height: 4096, channels: 3, order: "rgb" } as const;
      const out = new Float32Array(512);
      await engine.embed([edge], true, out);
      expect(Math.hypot(...out)).toBeCloseTo(1, 5);
    } finally {
      await engine.dispose();
    }
  });
});

describe("threads", () => {
  it(`accepts 0..${MAX_THREADS} and refuses more, in TypeScript and in the binding alike`, async () => {
    expect(MAX_THREADS).toBe(256);
    for (const threads of [MAX_THREADS + 1, 1024, 4096]) {
      expect(await codeOf(createEmbedder({ backend: "cpu", threads }))).toBe("MFN_INVALID_ARGUMENT");
      expect(() => nativeBinding().createEngine({
        modelPath: `${packageRoot}/models/mobilefacenet.onnx`, manifestPath: "", backend: "cpu", threads, device: 0,
        maxBatch: 1 })).toThrow(expect.objectContaining({ code: "MFN_INVALID_ARGUMENT",
                                                          message: expect.stringContaining(`${MAX_THREADS}`) }));
    }
    const mfn = await createEmbedder({ backend: "cpu", threads: 2 });
    await mfn.dispose();
  });
});

describe("maxQueue", () => {
  it("admits a call larger than the room left while fewer than maxQueue images wait: no starvation", async () => {
    // A long delay keeps the accepted calls waiting, as under steady load.
    const mfn = await createEmbedder({ backend: "cpu", flip: false, maxQueue: 8, maxDelayUs: 1_000_000 });
    try {
      const image = noiseImage(112, 112, 3, 3);
      const small = mfn.embed(image);                                    // 1 waiting
      const large = mfn.embedBatch(Array.from({ length: 20 }, () => image)); // 21 waiting
      expect(await codeOf(mfn.embed(image))).toBe("MFN_QUEUE_FULL");      // 21 >= 8
      const [one, rows] = await Promise.all([small, large]);
      expect(rows.length).toBe(20);
      for (const row of rows) expect(row).toEqual(one);
    } finally {
      await mfn.dispose();
    }
  });
});
