// embedder.identify: photo -> faces -> top-k in a gallery, on real LFW
// photos. People are enrolled from one photo each and identified from
// another photo of theirs (the matched pairs of pairs.txt), alone and two
// side by side; no face gives no result; a gallery of another size or not
// a gallery at all is a typed error.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, type FaceWithEmbedding, type Gallery, createEmbedder, createGallery } from "../src/index.js";
import { codeOf } from "./helpers/errors.js";
import { hasLfw, pairs, readImage } from "./helpers/lfw.js";
import { noiseImage } from "./helpers/tensors.js";

const person = (path: string) => path.split("/")[0]!;

/** The face an LFW photo is centred on (the data set's crops put it there). */
function central<F extends FaceWithEmbedding>(faces: F[]): F {
  const distance = (f: FaceWithEmbedding) => Math.hypot(f.box.x + f.box.width / 2 - 125, f.box.y + f.box.height / 2 - 125);
  return faces.reduce((best, f) => (distance(f) < distance(best) ? f : best));
}

describe.skipIf(!hasLfw)("embedder.identify", () => {
  let mfn: Embedder;
  let gallery: Gallery;
  // Eight people, each with two photos: one enrolled, one to identify.
  const chosen = hasLfw
    ? pairs().filter((p) => p.same).filter((p, i, all) => all.findIndex((q) => person(q.a) === person(p.a)) === i)
      .filter((_, i) => i % 37 === 0).slice(0, 8)
    : [];

  beforeAll(async () => {
    mfn = await createEmbedder({ backend: "cpu", threads: 2 });
    gallery = await createGallery({ dimensions: mfn.dimensions });
    for (const pair of chosen) {
      gallery.add(person(pair.a), central(await mfn.embedFaces(readImage(pair.a))).embedding);
    }
  });

  afterAll(async () => {
    await gallery?.dispose();
    await mfn?.dispose();
  });

  it("names each enrolled person from another photo of theirs, top-k in order", async () => {
    expect(gallery.size).toBe(8);
    for (const pair of chosen) {
      const faces = await mfn.identify(readImage(pair.b), gallery, { k: 3 });
      expect(faces.length).toBeGreaterThan(0);
      const face = central(faces);
      expect(face.matches.length).toBe(3);
      expect(face.matches[0]!.id, pair.b).toBe(person(pair.b));
      for (let i = 1; i < face.matches.length; i++) {
        expect(face.matches[i]!.similarity).toBeLessThanOrEqual(face.matches[i - 1]!.similarity);
      }
      // The match's similarity is the cosine of the face's own embedding with the enrolled one.
      const [again] = await gallery.search(face.embedding, { k: 1 });
      expect(again).toEqual(face.matches[0]);
    }
  });

  it("identifies two people side by side in one photo, and minSimilarity drops the weak matches", async () => {
    const [p, q] = [chosen[0]!, chosen[1]!];
    const photo = await sharp({ create: { width: 500, height: 250, channels: 3, background: "#000" } })
      .composite([{ input: readImage(p.b), left: 0, top: 0 }, { input: readImage(q.b), left: 250, top: 0 }])
      .png().toBuffer();
    const faces = await mfn.identify(photo, gallery, { k: 1 });
    const left = faces.find((f) => f.box.x + f.box.width / 2 < 250 && Math.abs(f.box.x + f.box.width / 2 - 125) < 60);
    const right = faces.find((f) => f.box.x + f.box.width / 2 >= 250 && Math.abs(f.box.x + f.box.width / 2 - 375) < 60);
    expect(left?.matches[0]?.id).toBe(person(p.b));
    expect(right?.matches[0]?.id).toBe(person(q.b));
    const strict = await mfn.identify(photo, gallery, { k: 8, minSimilarity: 0.99 });
    for (const face of strict) expect(face.matches).toEqual([]);
  });

  it("returns no faces for a photo without one", async () => {
    expect(await mfn.identify(noiseImage(320, 240, 3, 7), gallery)).toEqual([]);
  });

  it("refuses a gallery of another size, and what is not a gallery", async () => {
    const small = await createGallery({ dimensions: 128 });
    const photo = readImage(chosen[0]!.b);
    expect(await codeOf(mfn.identify(photo, small))).toBe("MFN_DIMENSION_MISMATCH");
    expect(await codeOf(mfn.identify(photo, {} as Gallery))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.identify(photo, gallery, { k: 0 }))).toBe("MFN_INVALID_ARGUMENT");
    await small.dispose();
  });
});
