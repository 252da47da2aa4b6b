// The public API on real faces: unit-length 512-d embeddings, verify on LFW
// pairs, flip, batches, timings, concurrency and disposal.
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { DEFAULT_VERIFY_THRESHOLD, type Embedder, MfnError, createEmbedder } from "../src/index.js";
import { hasLfw, imageSpread, landmarksOf, pairs, readImage } from "./helpers/lfw.js";
import { cosine, maxAbsDiff, noiseImage, norm } from "./helpers/tensors.js";

describe.skipIf(!hasLfw)("Embedder", () => {
  let mfn: Embedder;

  beforeAll(async () => {
    mfn = await createEmbedder({ backend: "cpu" });
  });

  afterAll(async () => {
    await mfn?.dispose();
  });

  const face = (path: string) => ({ image: readImage(path), landmarks: landmarksOf(path) });

  it("describes itself", () => {
    expect(mfn.backend).toBe("cpu");
    expect(mfn.fallbackReason).toBeNull(); // cpu was asked for: nothing fell back
    expect(mfn.dimensions).toBe(512);
    expect(mfn.flip).toBe(true);
  });

  it("returns unit-length 512-d embeddings", async () => {
    for (const path of imageSpread(8)) {
      for (const embedding of [await mfn.embed(readImage(path)), await mfn.embed(readImage(path), { flip: false })]) {
        expect(embedding).toBeInstanceOf(Float32Array);
        expect(embedding.length).toBe(512);
        expect(Math.abs(norm(embedding) - 1)).toBeLessThan(1e-5);
      }
    }
  });

  it("verifies an image against itself with similarity ~1", async () => {
    const jpeg = readImage(imageSpread(1)[0]!);
    const result = await mfn.verify(jpeg, jpeg);
    expect(result.similarity).toBeGreaterThan(0.99999);
    expect(result.match).toBe(true);
    expect(result.threshold).toBe(DEFAULT_VERIFY_THRESHOLD);
  });

  it("separates the first LFW pairs: same person above the threshold, different people below", async () => {
    const all = pairs();
    const same = all.filter((p) => p.same).slice(0, 50);
    const different = all.filter((p) => !p.same).slice(0, 50);
    const embeddings = new Map<string, Float32Array>();
    const paths = [...new Set([...same, ...different].flatMap((p) => [p.a, p.b]))];
    const out = await mfn.embedBatch(paths.map(face));
    paths.forEach((path, i) => embeddings.set(path, out[i]!));
    const similarity = (a: string, b: string) => cosine(embeddings.get(a)!, embeddings.get(b)!);

    // The very first pair of each kind in pairs.txt, through verify() itself.
    const firstSame = await mfn.verify(embeddings.get(same[0]!.a)!, embeddings.get(same[0]!.b)!);
    expect(firstSame.match).toBe(true);
    expect(firstSame.similarity).toBeGreaterThan(DEFAULT_VERIFY_THRESHOLD);
    const firstDifferent = await mfn.verify(embeddings.get(different[0]!.a)!, embeddings.get(different[0]!.b)!);
    expect(firstDifferent.match).toBe(false);
    expect(firstDifferent.similarity).toBeLessThan(DEFAULT_VERIFY_THRESHOLD);
    expect(firstSame.similarity).toBeCloseTo(similarity(same[0]!.a, same[0]!.b), 6);

    const correct = same.filter((p) => similarity(p.a, p.b) >= DEFAULT_VERIFY_THRESHOLD).length +
      different.filter((p) => similarity(p.a, p.b) < DEFAULT_VERIFY_THRESHOLD).length;
    expect(correct / 100).toBeGreaterThanOrEqual(0.97);
  });

  it("verify on images equals verify on their embeddings", async () => {
    const [x, y] = imageSpread(2).map(readImage);
    const fromImages = await mfn.verify(x!, y!, { threshold: 0.5 });
    const fromEmbeddings = await mfn.verify(await mfn.embed(x!), await mfn.embed(y!), { threshold: 0.5 });
    expect(fromImages.similarity).toBeCloseTo(fromEmbeddings.similarity, 6);
    expect(fromImages.threshold).toBe(0.5);
    const mixed = await mfn.verify(x!, await mfn.embed(y!));
    expect(mixed.similarity).toBeCloseTo(fromEmbeddings.similarity, 6);
  });

  it("flip changes the embedding, and the embedder's flip is the default", async () => {
    const jpeg = readImage(imageSpread(3)[2]!);
    const on = await mfn.embed(jpeg);
    const off = await mfn.embed(jpeg, { flip: false });
    expect(maxAbsDiff(on, off)).toBeGreaterThan(1e-3);
    expect(cosine(on, off)).toBeGreaterThan(0.8);
    const noFlip = await createEmbedder({ backend: "cpu", flip: false });
    try {
      expect(noFlip.flip).toBe(false);
      expect(maxAbsDiff(await noFlip.embed(jpeg), off)).toBeLessThanOrEqual(1e-6);
    } finally {
      await noFlip.dispose();
    }
  });

  it("embedBatch takes encoded, raw and landmarked items in one call, in order", async () => {
    const raw = noiseImage(120, 100, 4, 3);
    const path = imageSpread(4)[3]!;
    const items = [readImage(path), raw, face(path)];
    const batch = await mfn.embedBatch(items);
    expect(batch.length).toBe(3);
    expect(maxAbsDiff(batch[0]!, await mfn.embed(readImage(path)))).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(batch[1]!, await mfn.embed(raw))).toBeLessThanOrEqual(1e-6);
    expect(maxAbsDiff(batch[2]!, await mfn.embed(readImage(path), { landmarks: landmarksOf(path) }))).toBeLessThanOrEqual(1e-6);
    expect(await mfn.embedBatch([])).toEqual([]);
  });

  it("reports stage timings of the last call", async () => {
    await mfn.embed(readImage(imageSpread(1)[0]!));
    const timings = mfn.lastTimings();
    expect(timings.computeMs).toBeGreaterThan(0);
    expect(timings.preprocessMs).toBeGreaterThanOrEqual(0);
    expect(timings.hostToDeviceMs).toBe(0);
    expect(timings.deviceToHostMs).toBe(0);
  });

  it("resolves many concurrent embeds, each with its own result", async () => {
    const jpegs = imageSpread(16).map(readImage);
    const sequential: Float32Array[] = [];
    for (const jpeg of jpegs) sequential.push(await mfn.embed(jpeg));
    const concurrent = await Promise.all(jpegs.map((jpeg) => mfn.embed(jpeg)));
    concurrent.forEach((embedding, i) => expect(maxAbsDiff(embedding, sequential[i]!)).toBeLessThanOrEqual(1e-6));
    expect(cosine(concurrent[0]!, concurrent[1]!)).toBeLessThan(0.9); // different people stay different
  });

  it("disposes through Symbol.asyncDispose", async () => {
    const local = await createEmbedder({ backend: "cpu" });
    expect((await local.embed(noiseImage(112, 112, 3, 4))).length).toBe(512);
    await local[Symbol.asyncDispose]();
    await expect(local.embed(noiseImage(112, 112, 3, 4))).rejects.toSatisfy(
      (error: unknown) => error instanceof MfnError && error.code === "MFN_DISPOSED");
  });
});
