// What createEmbedder does with the model files a caller names, and what a
// model's arithmetic may return: special files are refused without blocking
// the thread pool, a NUL byte never selects another file, the manifest's
// sha256 is checked, non-finite results are errors, and every broadcasting
// case mfn accepts gives ONNX Runtime's answer (the rest is refused).
import { execFileSync } from "node:child_process";
import { constants, copyFileSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";

import { type Embedder, createEmbedder } from "../src/index.js";
import { codeOf } from "./helpers/errors.js";
import { type Graph, type Tensor, encodeModel, pseudoRandom, writeModel } from "./helpers/onnx-models.js";
import { MODEL_PATH } from "./helpers/ort.js";
import { noiseImage } from "./helpers/tensors.js";

const MANIFEST = readFileSync(join(dirname(MODEL_PATH), "manifest.json"), "utf8");
const folders: string[] = [];

function folder(): string {
  const dir = mkdtempSync(join(tmpdir(), "mfn-files-"));
  folders.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of folders) rmSync(dir, { recursive: true, force: true });
});

/** Rejects with the code, within `ms` (a load that blocks would otherwise pass by timing out elsewhere). */
async function codeWithin(promise: Promise<unknown>, ms: number): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([codeOf(promise), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A reader stuck on the FIFO (the bug) is released by opening its write end. */
function releaseFifo(path: string): void {
  try {
    closeSync(openSync(path, constants.O_WRONLY | constants.O_NONBLOCK));
  } catch {
    // ENXIO: nobody is reading, as it should be.
  }
}

describe("model paths", () => {
  it("refuses a FIFO as the model or its manifest without blocking the thread pool", async () => {
    const dir = folder();
    const fifo = join(dir, "model.onnx");
    execFileSync("mkfifo", [fifo]);
    writeFileSync(join(dir, "manifest.json"), MANIFEST);
    const manifestDir = folder();
    copyFileSync(MODEL_PATH, join(manifestDir, "model.onnx"));
    execFileSync("mkfifo", [join(manifestDir, "manifest.json")]);
    try {
      // Four at once: more than the default pool of four libuv threads, so
      // blocked loads would also stall the readFile below.
      const loads = [fifo, fifo, join(manifestDir, "model.onnx"), join(manifestDir, "model.onnx")]
        .map((model) => codeWithin(createEmbedder({ backend: "cpu", model }), 10_000));
      const unrelated = readFile(MODEL_PATH).then((b) => b.length);
      expect(await Promise.all(loads)).toEqual(Array(4).fill("MFN_MODEL_INVALID"));
      expect(await unrelated).toBeGreaterThan(0);
      await expect(createEmbedder({ backend: "cpu", model: fifo })).rejects.toThrow(/not a regular file/);
    } finally {
      releaseFifo(fifo);
      releaseFifo(join(manifestDir, "manifest.json"));
    }
  });

  it("refuses a device and a directory, each with its own message", async () => {
    const dir = folder();
    writeFileSync(join(dir, "manifest.json"), MANIFEST);
    symlinkSync("/dev/zero", join(dir, "device.onnx"));  // reads forever
    await expect(createEmbedder({ backend: "cpu", model: join(dir, "device.onnx") }))
      .rejects.toThrow(/not a regular file/);
    mkdirSync(join(dir, "folder.onnx"));
    expect(await codeOf(createEmbedder({ backend: "cpu", model: join(dir, "folder.onnx") }))).toBe("MFN_MODEL_INVALID");
    await expect(createEmbedder({ backend: "cpu", model: join(dir, "folder.onnx") })).rejects.toThrow(/is a directory/);
  });

  it("refuses a NUL byte instead of loading the file named before it", async () => {
    for (const model of [`${MODEL_PATH}\0.untrusted`, `${MODEL_PATH}\0`]) {
      expect(await codeOf(createEmbedder({ backend: "cpu", model }))).toBe("MFN_INVALID_ARGUMENT");
    }
  });

  it("checks the model file against the manifest's sha256", async () => {
    const dir = folder();
    const bytes = readFileSync(MODEL_PATH);
    bytes[bytes.length >> 1]! ^= 1;
    writeFileSync(join(dir, "model.onnx"), bytes);
    writeFileSync(join(dir, "manifest.json"), MANIFEST);
    const model = join(dir, "model.onnx");
    expect(await codeOf(createEmbedder({ backend: "cpu", model }))).toBe("MFN_MODEL_INVALID");
    await expect(createEmbedder({ backend: "cpu", model })).rejects.toThrow(/sha256/);
  });
});

// input 3x4x4 -> 1x1 conv to 4 channels -> <op> -> 4x4 conv to 8 -> [N, 8].
// The last conv sees every position, so a constant applied along the wrong
// axis changes the result.
function opGraph(op: string, constant: Tensor, constantFirst = false): Graph {
  return {
    height: 4, width: 4, output: "output", outputSize: 8,
    initializers: [
      { name: "w1", dims: [4, 3, 1, 1], values: pseudoRandom(12, 1) },
      { name: "w2", dims: [8, 4, 4, 4], values: pseudoRandom(512, 2) },
      constant,
    ],
    nodes: [
      { op: "Conv", inputs: ["input", "w1"], output: "a" },
      { op, inputs: constantFirst ? ["k", "a"] : ["a", "k"], output: "b" },
      { op: "Conv", inputs: ["b", "w2"], output: "c" },
      { op: "Flatten", inputs: ["c"], output: "output" },
    ],
  };
}

describe("ONNX broadcasting, checked against ONNX Runtime", () => {
  const k = (dims: number[], seed: number): Tensor => {
    const n = dims.reduce((a, b) => a * b, 1);
    return { name: "k", dims, values: pseudoRandom(n, seed).map((v) => v + 1.5) };
  };
  const cases: [string, string, Tensor, boolean][] = [
    ["PRelu [C,1,1]", "PRelu", k([4, 1, 1], 3), false],
    ["PRelu [1,C,1,1]", "PRelu", k([1, 4, 1, 1], 4), false],
    ["PRelu [1]", "PRelu", k([1], 5), false],
    ["PRelu [C] (along W)", "PRelu", k([4], 6), false],
    ["PRelu [1,1,1,W]", "PRelu", k([1, 1, 1, 4], 7), false],
    ["Mul [1,C,1,1]", "Mul", k([1, 4, 1, 1], 8), false],
    ["Mul [C] (along W)", "Mul", k([4], 9), false],
    ["Add [C,1,1]", "Add", k([4, 1, 1], 10), false],
    ["Add [H,1] (along H)", "Add", k([4, 1], 11), false],
    ["Add scalar", "Add", k([], 12), true],
    ["Sub [C,1,1], constant first", "Sub", k([4, 1, 1], 13), true],
    ["Div [1,C,1,1]", "Div", k([1, 4, 1, 1], 14), false],
    ["Div [C] (along W)", "Div", k([4], 15), false],
  ];
  const image = noiseImage(4, 4, 3, 7);

  it.each(cases)("%s: same result as ONNX Runtime, or MFN_MODEL_UNSUPPORTED", async (_name, op, constant, first) => {
    const graph = opGraph(op, constant, first);
    const session = await ort.InferenceSession.create(encodeModel(graph), { executionProviders: ["cpu"] });
    let mfn: Embedder;
    try {
      mfn = await createEmbedder({ backend: "cpu", model: writeModel(graph), flip: false });
    } catch (error) {
      expect((error as { code?: string }).code).toBe("MFN_MODEL_UNSUPPORTED");
      // Refused only where mfn's per-channel kernels cannot express it.
      expect(constant.dims.length === 1 && constant.dims[0] === 4 || constant.dims.at(-1) === 4 ||
             constant.dims.at(-2) === 4).toBe(true);
      await session.release();
      return;
    }
    try {
      const input = await mfn.preprocess(image);
      const result = await session.run({ input: new ort.Tensor("float32", input, [1, 3, 4, 4]) });
      const raw = result.output!.data as Float32Array;
      const norm = Math.hypot(...raw);
      const embedding = await mfn.embed(image);
      for (let i = 0; i < 8; i++) expect(embedding[i]!).toBeCloseTo(raw[i]! / norm, 5);
    } finally {
      await mfn.dispose();
      await session.release();
    }
  });

  it("refuses, rather than misreads, a PRelu slope [C] on N x C x H x W", async () => {
    const graph = opGraph("PRelu", k([4], 6));
    expect(await codeOf(createEmbedder({ backend: "cpu", model: writeModel(graph) }))).toBe("MFN_MODEL_UNSUPPORTED");
  });
});

describe("non-finite results", () => {
  // input 3x2x2 -> conv (w1) to 4x1x1 -> 1x1 conv (w2) -> [N, 4].
  const twoConvs = (w1: number, w2: number): Graph => ({
    height: 2, width: 2, output: "output", outputSize: 4,
    initializers: [
      { name: "w1", dims: [4, 3, 2, 2], values: Array(48).fill(w1) },
      { name: "w2", dims: [4, 4, 1, 1], values: Array(16).fill(w2) },
    ],
    nodes: [
      { op: "Conv", inputs: ["input", "w1"], output: "a" },
      { op: "Conv", inputs: ["a", "w2"], output: "b" },
      { op: "Flatten", inputs: ["b"], output: "output" },
    ],
  });
  const bright = { data: new Uint8Array(12).fill(250), width: 2, height: 2, channels: 3 as const };

  it("rejects embed, embedBatch and verify with MFN_NONFINITE when the model overflows", async () => {
    const mfn = await createEmbedder({ backend: "cpu", model: writeModel(twoConvs(1e30, 1e30)) });
    try {
      expect(await codeOf(mfn.embed(bright))).toBe("MFN_NONFINITE");
      expect(await codeOf(mfn.embedBatch([bright, bright]))).toBe("MFN_NONFINITE");
      expect(await codeOf(mfn.verify(bright, bright))).toBe("MFN_NONFINITE");
    } finally {
      await mfn.dispose();
    }
  });

  it("rejects a model that computes a zero vector (no direction, no similarity)", async () => {
    const mfn = await createEmbedder({ backend: "cpu", model: writeModel(twoConvs(0, 1)) });
    try {
      expect(await codeOf(mfn.verify(bright, bright))).toBe("MFN_NONFINITE");
    } finally {
      await mfn.dispose();
    }
  });

  it("refuses at load what must overflow: weights past FLT_MAX, a std whose reciprocal overflows", async () => {
    expect(await codeOf(createEmbedder({ backend: "cpu", model: writeModel(twoConvs(Infinity, 1)) })))
      .toBe("MFN_MODEL_INVALID");
    expect(await codeOf(createEmbedder({ backend: "cpu", model: writeModel(twoConvs(0.01, 1), { std: 1e-39 }) })))
      .toBe("MFN_MODEL_INVALID");
  });

  it("refuses an input larger than 1024 a side (staging it once took 3 GiB)", async () => {
    const graph: Graph = {
      height: 2000, width: 2000, output: "output", outputSize: 3, initializers: [],
      nodes: [
        { op: "GlobalAveragePool", inputs: ["input"], output: "g" },
        { op: "Flatten", inputs: ["g"], output: "output" },
      ],
    };
    expect(await codeOf(createEmbedder({ backend: "cpu", model: writeModel(graph), maxBatch: 1 })))
      .toBe("MFN_MODEL_INVALID");
  });
});
