// Every bad input rejects with its own MfnError code, and the process
// survives all of it.
import sharp from "sharp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Embedder, MfnError, createEmbedder } from "../src/index.js";
import { codeOf } from "./helpers/errors.js";
import { hasLfw, readImage } from "./helpers/lfw.js";
import { noiseImage, seeded } from "./helpers/tensors.js";

let mfn: Embedder;
const good = noiseImage(112, 112, 3, 1);

beforeAll(async () => {
  mfn = await createEmbedder({ backend: "cpu" });
});

afterAll(async () => {
  await mfn?.dispose();
});

describe("input errors", () => {
  it("rejects wrong types with MFN_INVALID_ARGUMENT", async () => {
    for (const input of [42, "face.jpg", { width: 112, height: 112, channels: 3 }, null, undefined, [1, 2, 3],
                         new Float32Array(10), new ArrayBuffer(10)]) {
      expect(await codeOf(mfn.embed(input as never))).toBe("MFN_INVALID_ARGUMENT");
    }
    expect(await codeOf(mfn.embed({ ...good, data: [1, 2, 3] } as never))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.embed({ ...good, order: "rbg" } as never))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.embed(good, { flip: "yes" } as never))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.embed(good, { flpi: true } as never))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.embedBatch(good as never))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.verify(good, good, { threshold: 2 }))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(mfn.verify(new Float32Array(3), good))).toBe("MFN_INVALID_ARGUMENT");
  });

  it("says what it expected and what it received", async () => {
    await expect(mfn.embed(42 as never)).rejects.toThrow(/^Expected .* for input but received number 42$/);
  });

  it("points the stack at the caller", async () => {
    let stack = "";
    try {
      await mfn.embed("nope" as never);
    } catch (error) {
      stack = (error as Error).stack ?? "";
    }
    expect(stack.split("\n")[0]).toMatch(/^MfnError \[MFN_INVALID_ARGUMENT\]: Expected/);
    expect(stack).toContain("errors.test.ts");
    expect(stack).not.toMatch(/src[\\/]inputs\.ts/);
  });

  it("rejects an empty buffer with MFN_EMPTY_INPUT", async () => {
    expect(await codeOf(mfn.embed(new Uint8Array(0)))).toBe("MFN_EMPTY_INPUT");
    expect(await codeOf(mfn.embed(Buffer.alloc(0)))).toBe("MFN_EMPTY_INPUT");
  });

  it.skipIf(!hasLfw)("rejects corrupt JPEGs with MFN_DECODE_FAILED", async () => {
    const jpeg = readImage("Aaron_Eckhart/Aaron_Eckhart_0001.jpg");
    const truncated = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    const garbled = Buffer.concat([jpeg.subarray(0, 200), Buffer.alloc(4000, 0x5a), jpeg.subarray(4200)]);
    const random = seeded(7);
    const noise = Uint8Array.from({ length: 5000 }, () => Math.floor(random() * 256));
    for (const bytes of [truncated, garbled, noise]) {
      expect(await codeOf(mfn.embed(bytes))).toBe("MFN_DECODE_FAILED");
    }
  });

  it("rejects bad raw dimensions with MFN_INVALID_DIMENSIONS", async () => {
    expect(await codeOf(mfn.embed({ data: new Uint8Array(0), width: 0, height: 0, channels: 3 }))).toBe("MFN_INVALID_DIMENSIONS");
    expect(await codeOf(mfn.embed({ ...good, width: -4 }))).toBe("MFN_INVALID_DIMENSIONS");
    expect(await codeOf(mfn.embed({ ...good, width: 11.5 }))).toBe("MFN_INVALID_DIMENSIONS");
    expect(await codeOf(mfn.embed({ ...good, data: good.data.subarray(0, 112 * 112 * 3 - 1) }))).toBe("MFN_INVALID_DIMENSIONS");
    expect(await codeOf(mfn.embed({ ...good, width: 224 }))).toBe("MFN_INVALID_DIMENSIONS");
    // Larger than the engine accepts, with enough bytes to pass the length check.
    expect(await codeOf(mfn.embed({ data: new Uint8Array(20000 * 3), width: 20000, height: 1, channels: 3 }))).toBe("MFN_INVALID_DIMENSIONS");
  });

  it("rejects channels other than 3 and 4 with MFN_INVALID_CHANNELS", async () => {
    for (const channels of [1, 2, 5]) {
      const data = new Uint8Array(112 * 112 * channels);
      expect(await codeOf(mfn.embed({ data, width: 112, height: 112, channels } as never))).toBe("MFN_INVALID_CHANNELS");
    }
  });

  it("rejects bad landmarks with MFN_INVALID_LANDMARKS", async () => {
    const five: [number, number][] = [[38, 51], [73, 51], [56, 71], [41, 92], [70, 92]];
    const cases: [number, number][][] = [
      five.slice(0, 4),
      [[Number.NaN, 51], ...five.slice(1)],
      [[38, 51], [38, 51], [56, 71], [41, 92], [70, 92]],
      [[0, 0], [0, 0], [0, 0], [0, 0], [0, 0]],
      [[38, 51], [73, 51], [56, Infinity], [41, 92], [70, 92]],
    ];
    for (const landmarks of cases) {
      expect(await codeOf(mfn.embed(good, { landmarks }))).toBe("MFN_INVALID_LANDMARKS");
      expect(await codeOf(mfn.preprocess(good, { landmarks }))).toBe("MFN_INVALID_LANDMARKS");
    }
    expect(await codeOf(mfn.embedBatch([good, { image: good, landmarks: cases[2]! }]))).toBe("MFN_INVALID_LANDMARKS");
  });

  it("names the failing item of a batch", async () => {
    await expect(mfn.embedBatch([good, good, { ...good, channels: 2 as never }])).rejects.toThrow(/inputs\[2\]/);
  });
});

describe("embedder errors", () => {
  it("rejects bad options with MFN_INVALID_ARGUMENT", async () => {
    for (const options of [{ backend: "tpu" }, { threads: -1 }, { maxBatch: 0 }, { flip: 1 }, { model: 3 }, { bogus: 1 }, 7]) {
      expect(await codeOf(createEmbedder(options as never))).toBe("MFN_INVALID_ARGUMENT");
    }
  });

  it("falls back to the CPU with a reason under backend auto, and cuda alone fails with that reason", async () => {
    const auto = await createEmbedder({ backend: "auto" });
    try {
      if (auto.backend === "cuda") {
        expect(auto.fallbackReason).toBeNull();
        return;
      }
      expect(auto.backend).toBe("cpu");
      expect(auto.fallbackReason).toEqual(expect.any(String));
      expect(auto.fallbackReason!.length).toBeGreaterThan(0);
      const failure = await createEmbedder({ backend: "cuda" }).then(
        () => { throw new Error("backend cuda should not load here"); },
        (error: unknown) => error as MfnError,
      );
      expect(failure).toBeInstanceOf(MfnError);
      expect(failure.code).toBe("MFN_BACKEND_UNAVAILABLE");
      expect(failure.message).toContain(auto.fallbackReason!);
    } finally {
      await auto.dispose();
    }
  });

  it("rejects a bogus model path with MFN_MODEL_INVALID", async () => {
    expect(await codeOf(createEmbedder({ backend: "cpu", model: "/nonexistent/model.onnx" }))).toBe("MFN_MODEL_INVALID");
  });

  it("rejects every call after dispose with MFN_DISPOSED", async () => {
    const local = await createEmbedder({ backend: "cpu" });
    await local.embed(good);
    await local.dispose();
    await local.dispose(); // idempotent
    expect(await codeOf(local.embed(good))).toBe("MFN_DISPOSED");
    expect(await codeOf(local.embedBatch([good]))).toBe("MFN_DISPOSED");
    expect(await codeOf(local.verify(good, good))).toBe("MFN_DISPOSED");
    expect(await codeOf(local.preprocess(good))).toBe("MFN_DISPOSED");
    expect(() => local.lastTimings()).toThrow(expect.objectContaining({ code: "MFN_DISPOSED" }));
    expect(local.backend).toBe("cpu"); // properties stay readable
  });

  it("rejects calls that reach the engine after dispose with MFN_DISPOSED", async () => {
    const local = await createEmbedder({ backend: "cpu" });
    // Still decoding their input when dispose() runs: they never reach a batch.
    // (Encoded images: raw pixels reach the queue in the caller's own tick, and
    // a batch that has started by the time dispose() runs finishes.)
    const png = await sharp(good.data, { raw: { width: good.width, height: good.height, channels: good.channels } })
      .png().toBuffer();
    const started = [local.embed(png), local.embed(png, { flip: false })];
    const disposed = local.dispose();
    // Both awaited at once: each rejection is handled as soon as it comes.
    expect(await Promise.all(started.map(codeOf))).toEqual(["MFN_DISPOSED", "MFN_DISPOSED"]);
    await disposed;
  });

  it("rejects with MFN_ABORTED when the signal fires", async () => {
    expect(await codeOf(mfn.embed(good, { signal: AbortSignal.abort() }))).toBe("MFN_ABORTED");
    const controller = new AbortController();
    const pending = mfn.embedBatch(Array.from({ length: 32 }, () => good), { signal: controller.signal });
    controller.abort();
    expect(await codeOf(pending)).toBe("MFN_ABORTED");
  });

  it("still works after all of the above", async () => {
    const embedding = await mfn.embed(good);
    expect(embedding.length).toBe(512);
  });
});

describe("binding boundary", () => {
  // The addon is only called by src/, but it must not trust its caller either.
  it("throws typed errors on malformed calls instead of crashing", async () => {
    const { nativeBinding, packageRoot } = await import("../src/native.js");
    const binding = nativeBinding();
    const engine = await binding.createEngine({
      modelPath: `${packageRoot}/models/mobilefacenet.onnx`, manifestPath: "", backend: "cpu", threads: 1, device: 0, maxBatch: 4,
    });
    const image = { data: good.data, width: 112, height: 112, channels: 3, order: "rgb" };
    const out = new Float32Array(512);
    const calls: [string, () => unknown][] = [
      ["MFN_INVALID_ARGUMENT", () => engine.embed("x" as never, true, out)],
      ["MFN_INVALID_ARGUMENT", () => engine.embed([image] as never, 1 as never, out)],
      ["MFN_INVALID_ARGUMENT", () => engine.embed([image] as never, true, new Float32Array(511))],
      ["MFN_INVALID_ARGUMENT", () => engine.embed([image] as never, true, new Uint8Array(2048) as never)],
      ["MFN_INVALID_ARGUMENT", () => engine.embed([42] as never, true, out)],
      ["MFN_INVALID_ARGUMENT", () => engine.embed([{ ...image, data: new Float32Array(112 * 112 * 3) }] as never, true, out)],
      ["MFN_INVALID_ARGUMENT", () => engine.embed([{ ...image, order: "xyz" }] as never, true, out)],
      ["MFN_INVALID_ARGUMENT", () => engine.embed([{ ...image, width: "112" }] as never, true, out)],
      ["MFN_INVALID_DIMENSIONS", () => engine.embed([{ ...image, width: Number.NaN }] as never, true, out)],
      ["MFN_INVALID_DIMENSIONS", () => engine.embed([{ ...image, width: 2 ** 31 }] as never, true, out)],
      ["MFN_INVALID_DIMENSIONS", () => engine.embed([{ ...image, width: 1e5, height: 1e5 }] as never, true, out)],
      ["MFN_INVALID_CHANNELS", () => engine.embed([{ ...image, channels: 0 }] as never, true, out)],
      ["MFN_INVALID_LANDMARKS", () => engine.embed([{ ...image, landmarks: new Float32Array(8) }] as never, true, out)],
      ["MFN_INVALID_ARGUMENT", () => engine.preprocess(image as never, false, new Float32Array(10))],
      ["MFN_INVALID_ARGUMENT", () => binding.createEngine(null as never)],
      ["MFN_INVALID_ARGUMENT", () => binding.createEngine({ modelPath: "m.onnx" } as never)],
    ];
    for (const [code, call] of calls) {
      expect(call).toThrow(expect.objectContaining({ code }));
    }
    expect(() => new (binding as unknown as { Engine: new (x?: unknown) => unknown }).Engine({})).toThrow(TypeError);
    const zero = new Float32Array(0);
    await engine.embed([], true, zero);
    await engine.embed([image] as never, true, out);
    expect(Math.hypot(...out)).toBeCloseTo(1, 5);
    await engine.dispose();
    expect(() => engine.embed([image] as never, true, out)).toThrow(expect.objectContaining({ code: "MFN_DISPOSED" }));
  });
});
