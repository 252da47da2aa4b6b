// Preprocessing against a straightforward JS reference on synthetic images:
// channel order, normalisation, alpha, mirror, bilinear resize with aligned
// pixel centres, and five-point alignment with a known similarity transform.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, createEmbedder } from "../src/index.js";
import {
  type TestImage,
  type Transform,
  flipColumns,
  maxAbsDiff,
  noiseImage,
  referenceTensor,
  resizeTransform,
  smoothImage,
  toBgr,
} from "./helpers/tensors.js";

const IDENTITY: Transform = [1, 0, 0, 0, 1, 0];
const ARCFACE_TEMPLATE: [number, number][] = [
  [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041],
];

let mfn: Embedder;

beforeAll(async () => {
  mfn = await createEmbedder({ backend: "cpu" });
});

afterAll(async () => {
  await mfn?.dispose();
});

describe("preprocess", () => {
  it("maps a 112x112 RGB image to BGR planes normalised by (x - 127.5) / 127.5", async () => {
    const image = noiseImage(112, 112, 3, 1);
    const tensor = await mfn.preprocess(image);
    expect(tensor).toBeInstanceOf(Float32Array);
    expect(tensor.length).toBe(3 * 112 * 112);
    // Channel 0 is blue: pixel (x=5, y=7) spelled out by hand.
    const p = (7 * 112 + 5) * 3;
    expect(tensor[7 * 112 + 5]).toBeCloseTo((image.data[p + 2]! - 127.5) / 127.5, 6);
    expect(tensor[112 * 112 + 7 * 112 + 5]).toBeCloseTo((image.data[p + 1]! - 127.5) / 127.5, 6);
    expect(tensor[2 * 112 * 112 + 7 * 112 + 5]).toBeCloseTo((image.data[p]! - 127.5) / 127.5, 6);
    expect(maxAbsDiff(tensor, referenceTensor(image, IDENTITY))).toBeLessThanOrEqual(1e-6);
  });

  it("gives a BGR-ordered raw image the same tensor as its RGB twin", async () => {
    const image = noiseImage(112, 112, 3, 2);
    const [rgb, bgr] = await Promise.all([mfn.preprocess(image), mfn.preprocess(toBgr(image))]);
    expect(maxAbsDiff(rgb, bgr)).toBe(0);
  });

  it("ignores alpha in RGBA input", async () => {
    const rgba = noiseImage(112, 112, 4, 3);
    const rgb = new Uint8Array(112 * 112 * 3);
    for (let i = 0; i < 112 * 112; i++) rgb.set(rgba.data.subarray(i * 4, i * 4 + 3), i * 3);
    const [a, b] = await Promise.all([
      mfn.preprocess(rgba),
      mfn.preprocess({ data: rgb, width: 112, height: 112, channels: 3 }),
    ]);
    expect(maxAbsDiff(a, b)).toBe(0);
  });

  it("accepts Uint8ClampedArray pixels", async () => {
    const image = noiseImage(112, 112, 3, 4);
    const clamped = new Uint8ClampedArray(image.data.buffer);
    const [a, b] = await Promise.all([
      mfn.preprocess(image),
      mfn.preprocess({ data: clamped, width: 112, height: 112, channels: 3 }),
    ]);
    expect(maxAbsDiff(a, b)).toBe(0);
  });

  it("mirror flips the columns of the model input", async () => {
    const image = noiseImage(112, 112, 3, 5);
    const [plain, mirrored] = await Promise.all([mfn.preprocess(image), mfn.preprocess(image, { mirror: true })]);
    expect(maxAbsDiff(mirrored, flipColumns(plain))).toBe(0);
    expect(maxAbsDiff(mirrored, plain)).toBeGreaterThan(0.5);
  });

  it("resizes 224x224 bilinearly with half-pixel centres (2x2 averages)", async () => {
    const image = noiseImage(224, 224, 3, 6);
    const tensor = await mfn.preprocess(image);
    expect(maxAbsDiff(tensor, referenceTensor(image, resizeTransform(224, 224, 112, 112)))).toBeLessThanOrEqual(1e-5);
    // The same thing spelled out: output (0, 0) is the mean of the top-left 2x2 block (blue channel).
    const blue = (x: number, y: number) => image.data[(y * 224 + x) * 3 + 2]!;
    const mean = (blue(0, 0) + blue(1, 0) + blue(0, 1) + blue(1, 1)) / 4;
    expect(tensor[0]).toBeCloseTo((mean - 127.5) / 127.5, 5);
  });

  it("resizes non-square, non-integer ratios (250x180 and 97x140) like the reference", async () => {
    for (const [w, h, seed] of [[250, 180, 7], [97, 140, 8]] as const) {
      const image = noiseImage(w, h, 3, seed);
      const tensor = await mfn.preprocess(image);
      expect(maxAbsDiff(tensor, referenceTensor(image, resizeTransform(w, h, 112, 112)))).toBeLessThanOrEqual(1e-4);
    }
  });

  it("mirrors resized images in model space", async () => {
    const image = noiseImage(250, 250, 3, 9);
    const mirrored = await mfn.preprocess(image, { mirror: true });
    const reference = referenceTensor(image, resizeTransform(250, 250, 112, 112), { mirror: true });
    expect(maxAbsDiff(mirrored, reference)).toBeLessThanOrEqual(1e-4);
  });

  it("decodes a PNG to the same tensor as its raw pixels", async () => {
    const image = noiseImage(160, 160, 3, 10);
    const png = await sharp(image.data, { raw: { width: 160, height: 160, channels: 3 } }).png().toBuffer();
    const [fromPng, fromRaw] = await Promise.all([mfn.preprocess(png), mfn.preprocess(image)]);
    expect(maxAbsDiff(fromPng, fromRaw)).toBe(0);
  });

  it("aligns with landmarks: the template itself on a 112x112 image is the identity", async () => {
    const image = noiseImage(112, 112, 3, 11);
    const aligned = await mfn.preprocess(image, { landmarks: ARCFACE_TEMPLATE });
    expect(maxAbsDiff(aligned, referenceTensor(image, IDENTITY, { border: "zero" }))).toBeLessThanOrEqual(1e-3);
  });

  it("aligns with landmarks: a rotated, scaled, shifted face lands on the template", async () => {
    // Forward map template -> image: p' = s R p + t. Sampling (dst -> src) is that same map.
    const angle = (25 * Math.PI) / 180;
    const s = 1.7;
    const [tx, ty] = [60, 35];
    const a = s * Math.cos(angle);
    const b = s * Math.sin(angle);
    const t: Transform = [a, -b, tx, b, a, ty];
    const landmarks = ARCFACE_TEMPLATE.map(([x, y]) => [t[0] * x + t[1] * y + t[2], t[3] * x + t[4] * y + t[5]] as [number, number]);
    const image: TestImage = smoothImage(300, 260);
    const aligned = await mfn.preprocess(image, { landmarks });
    expect(maxAbsDiff(aligned, referenceTensor(image, t, { border: "zero" }))).toBeLessThanOrEqual(2e-3);
    const mirrored = await mfn.preprocess(image, { landmarks, mirror: true });
    expect(maxAbsDiff(mirrored, flipColumns(aligned))).toBe(0);
  });
});
