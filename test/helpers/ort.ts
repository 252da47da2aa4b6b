// ONNX Runtime (onnxruntime-node, CPU) as the oracle: the model run on the
// exact tensors mfn.preprocess() returns.
import { join } from "node:path";

import * as ort from "onnxruntime-node";

import { packageRoot } from "../../src/native.js";

export const MODEL_PATH = join(packageRoot, "models", "mobilefacenet.onnx");

export interface Oracle {
  /** Raw (unnormalised) outputs of the model for n stacked 3x112x112 inputs. */
  run(inputs: Float32Array[]): Promise<Float32Array[]>;
  close(): Promise<void>;
}

export async function createOracle(): Promise<Oracle> {
  const session = await ort.InferenceSession.create(MODEL_PATH, { executionProviders: ["cpu"] });
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames[0]!;
  return {
    async run(inputs) {
      const size = inputs[0]!.length;
      const stacked = new Float32Array(inputs.length * size);
      inputs.forEach((input, i) => stacked.set(input, i * size));
      const feeds = { [inputName]: new ort.Tensor("float32", stacked, [inputs.length, 3, 112, 112]) };
      const result = await session.run(feeds);
      const output = result[outputName]!.data as Float32Array;
      const d = output.length / inputs.length;
      return inputs.map((_, i) => output.slice(i * d, (i + 1) * d));
    },
    close: () => session.release(),
  };
}
