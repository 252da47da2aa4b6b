// Small ONNX models written for a test (with onnx-proto), each in its own
// folder with a manifest.json beside it, as createEmbedder expects.
import { mkdtempSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";

interface OnnxNamespace {
  ModelProto: { encode(m: unknown): { finish(): Uint8Array } };
  TensorProto: { DataType: { FLOAT: number } };
}
const { onnx } = createRequire(import.meta.url)("onnx-proto") as { onnx: OnnxNamespace };

export interface Tensor {
  name: string;
  dims: number[];
  values: number[];
}

export interface Node {
  op: string;
  inputs: string[];
  output: string;
  attributes?: Record<string, number | number[]>;
}

export interface Graph {
  /** Model input, N x 3 x height x width; N is symbolic. */
  height: number;
  width: number;
  initializers: Tensor[];
  nodes: Node[];
  /** Name and width of the [N, size] output. */
  output: string;
  outputSize: number;
}

function valueInfo(name: string, dims: (number | string)[]) {
  return {
    name,
    type: {
      tensorType: {
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

function attribute(name: string, value: number | number[]) {
  return Array.isArray(value) ? { name, type: 7, ints: value } : { name, type: 2, i: value };
}

export function encodeModel(graph: Graph): Uint8Array {
  const model = {
    irVersion: 7,
    producerName: "mfn-test",
    opsetImport: [{ domain: "", version: 13 }],
    graph: {
      name: "test",
      input: [valueInfo("input", ["N", 3, graph.height, graph.width])],
      output: [valueInfo(graph.output, ["N", graph.outputSize])],
      initializer: graph.initializers.map((t) => ({
        name: t.name,
        dims: t.dims,
        dataType: onnx.TensorProto.DataType.FLOAT,
        rawData: new Uint8Array(new Float32Array(t.values).buffer),
      })),
      node: graph.nodes.map((n, i) => ({
        name: `${n.op}_${i}`,
        opType: n.op,
        input: n.inputs,
        output: [n.output],
        attribute: Object.entries(n.attributes ?? {}).map(([k, v]) => attribute(k, v)),
      })),
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

/** Writes model.onnx and manifest.json (extra fields override) to a new folder; returns the model's path. */
export function writeModel(graph: Graph, manifest: Record<string, unknown> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), "mfn-model-test-"));
  const path = join(dir, "model.onnx");
  writeFileSync(path, encodeModel(graph));
  writeFileSync(join(dir, "manifest.json"), JSON.stringify({
    file: "model.onnx", input: "input", output: graph.output, layout: "NCHW", height: graph.height,
    width: graph.width, channelOrder: "RGB", mean: 127.5, std: 127.5, embeddingSize: graph.outputSize, ...manifest,
  }));
  return path;
}

/** Deterministic values in [-1, 1) (a fixed LCG), so that failures reproduce. */
export function pseudoRandom(n: number, seed: number): number[] {
  let state = seed >>> 0;
  return Array.from({ length: n }, () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 31 - 1;
  });
}
