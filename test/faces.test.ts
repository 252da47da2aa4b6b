// embedder.detect / embedder.embedFaces on real photos: one LFW face, two
// faces side by side, no face, the caller's buffer changed after the call,
// agreement with embed({ landmarks }), and the typed errors.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, type Face, createEmbedder } from "../src/index.js";
import { codeOf } from "./helpers/errors.js";
import { hasLfw, imageSpread, landmarksOf, readImage } from "./helpers/lfw.js";
import { cosine, noiseImage } from "./helpers/tensors.js";

const iod = (p: readonly (readonly [number, number])[]) => Math.hypot(p[1]![0] - p[0]![0], p[1]![1] - p[0]![1]);
const inside = (f: Face, [x, y]: readonly [number, number]) =>
  f.box.x <= x && x <= f.box.x + f.box.width && f.box.y <= y && y <= f.box.y + f.box.height;

async function rawPhoto(name: string) {
  const { data, info } = await sharp(readImage(name)).raw().toBuffer({ resolveWithObject: true });
  return { data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 as const };
}

describe.skipIf(!hasLfw)("face detection", () => {
  let mfn: Embedder;
  const names = hasLfw ? imageSpread(12) : [];

  beforeAll(async () => {
    mfn = await createEmbedder({ backend: "cpu", threads: 2 });
  });

  afterAll(async () => {
    await mfn?.dispose();
  });

  it("finds the annotated face of LFW photos, its eyes within 0.25 IOD of the landmark file", async () => {
    for (const name of names) {
      const faces = await mfn.detect(readImage(name));
      const truth = landmarksOf(name);
      const face = faces.find((f) => Math.hypot(f.landmarks[0]![0] - truth[0]![0], f.landmarks[0]![1] - truth[0]![1]) <
        0.25 * iod(truth));
      expect(face, name).toBeDefined();
      expect(face!.score).toBeGreaterThan(0.5);
      expect(face!.landmarks.length).toBe(5);
      expect(Math.hypot(face!.landmarks[1]![0] - truth[1]![0], face!.landmarks[1]![1] - truth[1]![1])).toBeLessThan(0.25 * iod(truth));
      for (const p of truth.slice(0, 3)) expect(inside(face!, p)).toBe(true);
      for (let i = 1; i < faces.length; i++) expect(faces[i]!.score).toBeLessThanOrEqual(faces[i - 1]!.score);
    }
  });

  it("finds two faces side by side, in their own halves, highest score first", async () => {
    const [a, b] = [names[0]!, names[1]!];
    const photo = await sharp({ create: { width: 500, height: 250, channels: 3, background: "#000" } })
      .composite([{ input: readImage(a), left: 0, top: 0 }, { input: readImage(b), left: 250, top: 0 }])
      .png().toBuffer();
    const faces = await mfn.detect(photo);
    expect(faces.length).toBe(2);
    expect(faces[0]!.score).toBeGreaterThanOrEqual(faces[1]!.score);
    const left = faces.find((f) => f.box.x + f.box.width / 2 < 250)!;
    const right = faces.find((f) => f.box.x + f.box.width / 2 >= 250)!;
    expect(left).toBeDefined();
    expect(right).toBeDefined();
    expect(inside(left, landmarksOf(a)[2]!)).toBe(true);
    const nose = landmarksOf(b)[2]!;
    expect(inside(right, [nose[0] + 250, nose[1]])).toBe(true);
    const best = await mfn.detect(photo, { maxFaces: 1 });
    expect(best).toEqual([faces[0]]);
  });

  it("gives an empty array for a photo without a face", async () => {
    const flat = { data: new Uint8Array(320 * 240 * 3).fill(120), width: 320, height: 240, channels: 3 as const };
    expect(await mfn.detect(flat)).toEqual([]);
    expect(await mfn.embedFaces(flat)).toEqual([]);
    expect(await mfn.detect(noiseImage(200, 150, 3, 7))).toEqual([]);
  });

  it("embedFaces = detect + embed({ landmarks }) of each face, one call", async () => {
    const photo = readImage(names[2]!);
    const faces = await mfn.embedFaces(photo);
    const detected = await mfn.detect(photo);
    expect(faces.map(({ embedding: _, ...f }) => f)).toEqual(detected);
    for (const f of faces) {
      expect(f.embedding.length).toBe(512);
      expect(cosine(f.embedding, await mfn.embed(photo, { landmarks: f.landmarks }))).toBeGreaterThan(0.99999);
    }
    const noFlip = await mfn.embedFaces(photo, { flip: false });
    expect(cosine(noFlip[0]!.embedding, await mfn.embed(photo, { landmarks: faces[0]!.landmarks, flip: false })))
      .toBeGreaterThan(0.99999);
  });

  it("takes its own copy of raw pixels: changing the buffer after the call changes nothing", async () => {
    const { data, info } = await sharp(readImage(names[3]!)).raw().toBuffer({ resolveWithObject: true });
    const expected = await mfn.detect({ data: new Uint8Array(data), width: info.width, height: info.height, channels: 3 });
    const pixels = new Uint8Array(data);
    const pending = mfn.detect({ data: pixels, width: info.width, height: info.height, channels: 3 });
    // Raw pixels reach the engine within the call's microtasks; wiping them
    // on the next turn of the event loop, while the detection runs, must not matter.
    setImmediate(() => pixels.fill(0));
    await new Promise((r) => setImmediate(r));
    expect(await pending).toEqual(expected);
  });

  it("answers concurrent calls like sequential ones", async () => {
    const photos = names.slice(0, 6).map(readImage);
    const sequential: Face[][] = [];
    for (const p of photos) sequential.push(await mfn.detect(p));
    expect(await Promise.all(photos.map((p) => mfn.detect(p)))).toEqual(sequential);
  });

  it("batches concurrent face calls: photos share detector runs, their faces share embedding batches", async () => {
    const batched = await createEmbedder({ backend: "cpu", threads: 2, maxDelayUs: 50_000 });
    try {
      const photos = await Promise.all(names.slice(0, 8).map(rawPhoto));
      const alone: Awaited<ReturnType<Embedder["embedFaces"]>>[] = [];
      for (const p of photos) alone.push(await batched.embedFaces(p));
      const before = batched.batchStats();
      const together = await Promise.all(photos.map((p) => batched.embedFaces(p)));
      const after = batched.batchStats();
      expect(after.detectionImages - before.detectionImages).toBe(photos.length);
      expect(after.detectionBatches - before.detectionBatches).toBeLessThan(photos.length / 2);
      expect(after.images - before.images).toBe(alone.flat().length);
      expect(after.batches - before.batches).toBeLessThan(photos.length / 2);
      expect(after.largestDetectionBatch).toBeGreaterThan(1);
      expect(after.pendingCalls).toBe(0);
      together.forEach((faces, i) => {
        expect(faces.map(({ embedding: _, ...f }) => f)).toEqual(alone[i]!.map(({ embedding: _, ...f }) => f));
        faces.forEach((f, k) => expect(cosine(f.embedding, alone[i]![k]!.embedding)).toBeGreaterThan(0.99999));
      });
    } finally {
      await batched.dispose();
    }
  });

  it("settles every queued face call when disposed: resolved, or rejected with MFN_DISPOSED", async () => {
    const slow = await createEmbedder({ backend: "cpu", threads: 1, maxDelayUs: 500_000 });
    const photos = await Promise.all(names.slice(0, 4).map(rawPhoto));
    const calls = photos.flatMap((p) => [slow.detect(p), slow.embedFaces(p)])
      .map((c) => c.then(() => "resolved", (e: { code?: string }) => e.code));
    await new Promise((r) => setImmediate(r));  // every call is in the engine's queues
    await slow.dispose();
    const outcomes = await Promise.all(calls);
    expect(outcomes).toContain("MFN_DISPOSED");
    for (const o of outcomes) expect(["resolved", "MFN_DISPOSED"]).toContain(o);
  });

  it("rejects bad input and options with the same typed errors as embed", async () => {
    const photo = readImage(names[0]!);
    expect(await codeOf(mfn.detect(Buffer.alloc(0)))).toBe(await codeOf(mfn.embed(Buffer.alloc(0))));
    expect(await codeOf(mfn.detect(Buffer.from("not an image")))).toBe("MFN_DECODE_FAILED");
    const twoChannels = { data: new Uint8Array(40), width: 4, height: 5, channels: 2 as unknown as 3 };
    expect(await codeOf(mfn.detect(twoChannels))).toBe(await codeOf(mfn.embed(twoChannels)));
    const short = { data: new Uint8Array(10), width: 40, height: 40, channels: 3 as const };
    expect(await codeOf(mfn.embedFaces(short))).toBe(await codeOf(mfn.embed(short)));
    expect(await codeOf(mfn.detect(photo, { maxFaces: 0 }))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.detect(photo, { maxFaces: 1.5 }))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.detect(photo, { minScore: 0 }))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.embedFaces(photo, { minScore: Number.NaN }))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.detect(photo, { landmarks: [] } as never))).toBe("MFN_INVALID_ARGUMENT");
    const controller = new AbortController();
    controller.abort();
    expect(await codeOf(mfn.embedFaces(photo, { signal: controller.signal }))).toBe("MFN_ABORTED");
  });

  it("without a detector, detect and embedFaces reject with MFN_MODEL_UNSUPPORTED", async () => {
    const plain = await createEmbedder({ backend: "cpu", threads: 1, detector: false });
    expect(plain.detectorBackend).toBeNull();
    expect(mfn.detectorBackend).toBe("cpu");
    expect(mfn.detectorFallbackReason).toBeNull();  // the embeddings are on the CPU too
    try {
      expect(await codeOf(plain.detect(readImage(names[0]!)))).toBe("MFN_MODEL_UNSUPPORTED");
      expect(await codeOf(plain.embedFaces(readImage(names[0]!)))).toBe("MFN_MODEL_UNSUPPORTED");
    } finally {
      await plain.dispose();
    }
    expect(await codeOf(createEmbedder({ detector: "" as string }))).toBe("MFN_INVALID_ARGUMENT");
    const gone = await createEmbedder({ backend: "cpu", threads: 1 });
    await gone.dispose();
    expect(await codeOf(gone.detect(readImage(names[0]!)))).toBe("MFN_DISPOSED");
  });
});
