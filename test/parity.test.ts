// mfn against ONNX Runtime on real LFW images: the same input tensor
// (mfn.preprocess) through both, embeddings compared element by element.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, createEmbedder } from "../src/index.js";
import { hasLfw, imageSpread, landmarksOf, readImage } from "./helpers/lfw.js";
import { type Oracle, createOracle } from "./helpers/ort.js";
import { cosine, maxAbsDiff, norm, normalise } from "./helpers/tensors.js";

const COUNT = 64;

describe.skipIf(!hasLfw)("parity with onnxruntime-node on LFW", () => {
  let mfn: Embedder;
  let oracle: Oracle;
  let names: string[];
  let jpegs: Buffer[];

  beforeAll(async () => {
    [mfn, oracle] = await Promise.all([createEmbedder({ backend: "cpu" }), createOracle()]);
    names = imageSpread(COUNT);
    jpegs = names.map(readImage);
  });

  afterAll(async () => {
    await Promise.all([mfn?.dispose(), oracle?.close()]);
  });

  it(`matches ORT without flip on ${COUNT} images (max |diff| <= 1e-5, cosine >= 0.999999)`, async () => {
    const tensors = await Promise.all(jpegs.map((jpeg) => mfn.preprocess(jpeg)));
    const expected = (await oracle.run(tensors)).map(normalise);
    let worstDiff = 0;
    let worstCosine = 1;
    for (let i = 0; i < COUNT; i++) {
      const actual = await mfn.embed(jpegs[i]!, { flip: false });
      expect(actual.length).toBe(512);
      worstDiff = Math.max(worstDiff, maxAbsDiff(actual, expected[i]!));
      worstCosine = Math.min(worstCosine, cosine(actual, expected[i]!));
    }
    expect(worstDiff).toBeLessThanOrEqual(1e-5);
    expect(worstCosine).toBeGreaterThanOrEqual(0.999999);
  });

  it("matches ORT with flip: normalise(f(x) + f(mirror(x)))", async () => {
    const plain = await Promise.all(jpegs.map((jpeg) => mfn.preprocess(jpeg)));
    const mirrored = await Promise.all(jpegs.map((jpeg) => mfn.preprocess(jpeg, { mirror: true })));
    const [a, b] = await Promise.all([oracle.run(plain), oracle.run(mirrored)]);
    let worstCosine = 1;
    for (let i = 0; i < COUNT; i++) {
      const expected = normalise(a[i]!.map((v, k) => v + b[i]![k]!));
      const actual = await mfn.embed(jpegs[i]!);
      worstCosine = Math.min(worstCosine, cosine(actual, expected));
      expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-5);
    }
    expect(worstCosine).toBeGreaterThanOrEqual(0.999999);
  });

  it("matches ORT on aligned faces (landmarks, flip on)", async () => {
    const items = names.slice(0, 16).map((name, i) => ({ image: jpegs[i]!, landmarks: landmarksOf(name) }));
    const plain = await Promise.all(items.map(({ image, landmarks }) => mfn.preprocess(image, { landmarks })));
    const mirrored = await Promise.all(items.map(({ image, landmarks }) => mfn.preprocess(image, { landmarks, mirror: true })));
    const [a, b] = await Promise.all([oracle.run(plain), oracle.run(mirrored)]);
    const actual = await mfn.embedBatch(items);
    for (let i = 0; i < items.length; i++) {
      const expected = normalise(a[i]!.map((v, k) => v + b[i]![k]!));
      expect(cosine(actual[i]!, expected)).toBeGreaterThanOrEqual(0.999999);
    }
  });

  it("embedBatch gives the per-call embed results, in order", async () => {
    const batch = await mfn.embedBatch(jpegs);
    expect(batch.length).toBe(COUNT);
    for (let i = 0; i < COUNT; i++) {
      const single = await mfn.embed(jpegs[i]!);
      expect(Math.abs(norm(batch[i]!) - 1)).toBeLessThan(1e-5);
      expect(maxAbsDiff(batch[i]!, single)).toBeLessThanOrEqual(1e-6);
    }
  });
});
