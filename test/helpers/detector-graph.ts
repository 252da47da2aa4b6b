// A small detector-shaped ONNX graph built here with onnx-proto, covering
// every op the bundled detector adds to the engine (Transpose of an NHWC
// input, Conv, Relu, MaxPool 2x2/3x3 with padding, ConstantOfShape + Concat
// channel padding, residual Add, Transpose + Reshape of the outputs), with
// random weights, written with its detector manifest into a folder.
import { mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { onnx } = require("onnx-proto") as { onnx: any };

export const SMALL_SIZE = 32;

function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a * 1664525 + 1013904223) >>> 0;
    return a / 2 ** 32 - 0.5;
  };
}

export function writeSmallDetector(dir: string): string {
  const rand = random(42);
  const inits: object[] = [];
  const weight = (name: string, dims: number[], scale: number) => {
    const n = dims.reduce((a, b) => a * b, 1);
    inits.push({ name, dataType: 1, dims, floatData: Array.from({ length: n }, () => rand() * scale) });
    return name;
  };
  const ints = (name: string, values: number[]) => {
    inits.push({ name, dataType: 7, dims: [values.length], int64Data: values });
    return name;
  };
  const attr = (name: string, value: number[] | number) =>
    Array.isArray(value) ? { name, type: 7, ints: value } : { name, type: 2, i: value };
  const node = (opType: string, input: string[], output: string, attribute: object[] = []) =>
    ({ opType, input, output: [output], name: output, attribute });
  const nodes = [
    node("Transpose", ["x"], "t0", [attr("perm", [0, 3, 1, 2])]),
    node("Conv", ["t0", weight("w1", [8, 3, 3, 3], 0.6), weight("b1", [8], 0.2)], "c1",
      [attr("kernel_shape", [3, 3]), attr("pads", [1, 1, 1, 1])]),
    node("Relu", ["c1"], "r1"),
    node("MaxPool", ["r1"], "p1", [attr("kernel_shape", [2, 2]), attr("strides", [2, 2])]),
    node("ConstantOfShape", [ints("shape_pad", [1, 8, 16, 16])], "zeros"),
    node("Concat", ["p1", "zeros"], "cat", [attr("axis", 1)]),
    node("Conv", ["cat", weight("w2", [16, 16, 1, 1], 0.5), weight("b2", [16], 0.2)], "c2",
      [attr("kernel_shape", [1, 1])]),
    node("Add", ["c2", "cat"], "a2"),
    node("Relu", ["a2"], "r2"),
    node("MaxPool", ["r2"], "p2", [attr("kernel_shape", [3, 3]), attr("strides", [2, 2]), attr("pads", [1, 1, 1, 1])]),
    node("Conv", ["p2", weight("ws", [2, 16, 1, 1], 0.5), weight("bs", [2], 0.2)], "cs", [attr("kernel_shape", [1, 1])]),
    node("Conv", ["p2", weight("wb", [32, 16, 1, 1], 0.5), weight("bb", [32], 0.2)], "cb", [attr("kernel_shape", [1, 1])]),
    node("Transpose", ["cs"], "ts", [attr("perm", [0, 2, 3, 1])]),
    node("Transpose", ["cb"], "tb", [attr("perm", [0, 2, 3, 1])]),
    node("Reshape", ["ts", ints("shape_s", [1, -1, 1])], "scores"),
    node("Reshape", ["tb", ints("shape_b", [1, -1, 16])], "boxes"),
  ];
  const value = (name: string, dims: number[]) =>
    ({ name, type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => ({ dimValue: d })) } } } });
  const model = onnx.ModelProto.fromObject({
    irVersion: 7,
    opsetImport: [{ domain: "", version: 12 }],
    graph: {
      name: "small-detector",
      node: nodes,
      initializer: inits,
      input: [value("x", [1, SMALL_SIZE, SMALL_SIZE, 3])],
      output: [value("scores", [1, 128, 1]), value("boxes", [1, 128, 16])],
    },
  });
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "small.onnx");
  writeFileSync(path, onnx.ModelProto.encode(model).finish());
  writeFileSync(join(dir, "detector.json"), JSON.stringify({
    kind: "detector", file: "small.onnx", input: "x", outputs: ["scores", "boxes"], layout: "NHWC",
    height: SMALL_SIZE, width: SMALL_SIZE, channelOrder: "RGB", mean: 127.5, std: 127.5,
  }));
  return path;
}
