// The detector in mfn against onnxruntime-node: the same letterboxed input
// tensor (engine.detectorInput) through both, raw outputs compared element
// by element. The bundled BlazeFace on real LFW photos (square, and cropped
// to other aspect ratios so the letterbox has margins), and a small graph
// of the detector's ops with random weights (each op the engine gained).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import * as ort from "onnxruntime-node";
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { checkImage, toNativeImages } from "../src/inputs.js";
import { type NativeEngine, type NativeImage, nativeBinding, packageRoot } from "../src/native.js";
import { SMALL_SIZE, writeSmallDetector } from "./helpers/detector-graph.js";
import { hasLfw, imageSpread, readImage } from "./helpers/lfw.js";
import { maxAbsDiff } from "./helpers/tensors.js";

const DETECTOR = join(packageRoot, "models", "blazeface_back_256.onnx");

async function engineWith(detectorPath: string): Promise<NativeEngine> {
  return nativeBinding().createEngine({
    modelPath: join(packageRoot, "models", "mobilefacenet.onnx"), manifestPath: "", backend: "cpu",
    threads: 2, device: 0, maxBatch: 8, detectorPath,
  });
}

/** An encoded image decoded as the embedder decodes its inputs. */
async function toNativeImage(bytes: Uint8Array): Promise<NativeImage> {
  const copies = new Map();
  const [image] = await toNativeImages([checkImage(bytes, "image", undefined, copies)], copies);
  return image!;
}

function nchwToNhwc(x: Float32Array, size: number): Float32Array {
  const y = new Float32Array(x.length);
  const plane = size * size;
  for (let c = 0; c < 3; c++) for (let i = 0; i < plane; i++) y[i * 3 + c] = x[c * plane + i]!;
  return y;
}

/** ORT's outputs for the engine's own input tensor, concatenated in `names` order. */
async function ortOutputs(session: ort.InferenceSession, engine: NativeEngine, image: NativeImage,
  names: string[]): Promise<Float32Array> {
  const size = engine.detectorInputSize;
  const input = new Float32Array(3 * size * size);
  engine.detectorInput(image, input);
  const feeds = { [session.inputNames[0]!]: new ort.Tensor("float32", nchwToNhwc(input, size), [1, size, size, 3]) };
  const result = await session.run(feeds);
  const parts = names.map((n) => result[n]!.data as Float32Array);
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

describe.skipIf(!hasLfw)("detector parity with onnxruntime-node", () => {
  let engine: NativeEngine;
  let session: ort.InferenceSession;
  const outputs = ["Identity:0", "Identity_1:0", "Identity_2:0", "Identity_3:0"];

  beforeAll(async () => {
    [engine, session] = await Promise.all([engineWith(DETECTOR),
      ort.InferenceSession.create(DETECTOR, { executionProviders: ["cpu"], logSeverityLevel: 3 })]);
  });

  afterAll(async () => {
    await Promise.all([engine?.dispose(), session?.release()]);
  });

  it("lowers the bundled detector with a 256x256 input", () => {
    expect(engine.detectorInputSize).toBe(256);
  });

  it("matches ORT's raw outputs on 24 LFW photos, square and letterboxed (|diff| <= 5e-4 * max(1, |value|))", async () => {
    let worst = 0;
    let worstScore = 0;
    const names = imageSpread(24);
    for (let i = 0; i < names.length; i++) {
      // Every third photo cropped to 250x170 or 140x250: margins above/below or left/right.
      const jpeg = readImage(names[i]!);
      const crop = i % 3 === 1 ? { left: 0, top: 40, width: 250, height: 170 }
        : i % 3 === 2 ? { left: 55, top: 0, width: 140, height: 250 } : undefined;
      const bytes = crop ? await sharp(jpeg).extract(crop).png().toBuffer() : jpeg;
      const image = await toNativeImage(bytes);
      const expected = await ortOutputs(session, engine, image, outputs);
      const actual = await engine.detectorOutputs(image);
      expect(actual.length).toBe(512 + 384 + 512 * 16 + 384 * 16);
      // Box values are pixels (up to a few hundred), scores logits: relative
      // to the value's size, with an absolute floor of 1.
      for (let k = 0; k < actual.length; k++) {
        worst = Math.max(worst, Math.abs(actual[k]! - expected[k]!) / Math.max(1, Math.abs(expected[k]!)));
      }
      worstScore = Math.max(worstScore, maxAbsDiff(actual.subarray(0, 896), expected.subarray(0, 896)));
    }
    console.log(`raw outputs: worst relative diff ${worst.toExponential(2)}, worst score logit diff ${worstScore.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(5e-4);
  });
});

describe("the detector's ops against onnxruntime-node (small graph, random weights)", () => {
  let dir: string;
  let engine: NativeEngine;
  let session: ort.InferenceSession;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "mfn-small-detector-"));
    const path = writeSmallDetector(dir);
    [engine, session] = await Promise.all([engineWith(path),
      ort.InferenceSession.create(path, { executionProviders: ["cpu"], logSeverityLevel: 3 })]);
  });

  afterAll(async () => {
    await Promise.all([engine?.dispose(), session?.release()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("Transpose, Conv, Relu, MaxPool, ConstantOfShape + Concat, Add, Reshape match (max |diff| <= 1e-5)", async () => {
    expect(engine.detectorInputSize).toBe(SMALL_SIZE);
    const sources = hasLfw ? imageSpread(4).map(readImage) : [];
    const noise = { data: new Uint8Array(48 * 40 * 3).map((_, i) => (i * 37) % 251), width: 48, height: 40,
      channels: 3 as const, order: "rgb" as const };
    const images = [...await Promise.all(sources.map((s) => toNativeImage(s))), noise];
    for (const image of images) {
      const expected = await ortOutputs(session, engine, image, ["scores", "boxes"]);
      const actual = await engine.detectorOutputs(image);
      expect(actual.length).toBe(128 + 128 * 16);
      expect(maxAbsDiff(actual, expected)).toBeLessThanOrEqual(1e-5);
    }
  });
});
