// Re-entrancy: reading a caller's arguments can run the caller's JavaScript
// (getters, proxies, properties inherited from Object.prototype). Whatever
// that code does (dispose the embedder, detach or shrink a buffer already
// read), no check may be invalidated before the use it protects: the call
// either works on what was read or fails with a typed error, and the
// process never crashes. Each scenario runs in its own child process.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";

import { describe, expect, it } from "vitest";

import { packageRoot } from "../src/native.js";

const gypBuild = createRequire(import.meta.url).resolve("node-gyp-build");

/** Runs `source` in a fresh node process (--expose-gc) with `binding`, `engine`, `image()` and `mfn` defined. */
function runChild(source: string) {
  const prelude = `
    const { createRequire } = await import("node:module");
    const binding = createRequire(${JSON.stringify(gypBuild)})(${JSON.stringify(gypBuild)})(${JSON.stringify(packageRoot)});
    const { createEmbedder } = await import(${JSON.stringify(`${packageRoot}/dist/index.js`)});
    const engine = await binding.createEngine({
      modelPath: ${JSON.stringify(`${packageRoot}/models/mobilefacenet.onnx`)}, manifestPath: "", backend: "cpu",
      threads: 1, device: 0, maxBatch: 8, maxDelayUs: 1000 });
    const mfn = await createEmbedder({ backend: "cpu", threads: 1 });
    const image = (side = 112) => ({ data: new Uint8Array(side * side * 3).fill(100), width: side, height: side,
                                     channels: 3, order: "rgb" });
    const outcome = async (run) => {
      try { await run(); return "ok"; } catch (error) { return error.code ?? String(error); }
    };
  `;
  const child = spawnSync(process.execPath, ["--expose-gc", "--input-type=module", "-e", prelude + source],
                          { encoding: "utf8", timeout: 120_000 });
  expect(child.stderr).toBe("");
  expect(child.signal).toBeNull();
  expect(child.status).toBe(0);
  return JSON.parse(child.stdout) as unknown;
}

describe("user code run while the binding reads arguments", () => {
  it("preprocess: a getter that disposes the engine", () => {
    const result = runChild(`
      const img = image();
      Object.defineProperty(img, "order", { get() { engine.dispose(); return "rgb"; } });
      const code = await outcome(() => engine.preprocess(img, false, new Float32Array(3 * 112 * 112)));
      console.log(JSON.stringify(code));
    `);
    expect(result).toBe("MFN_DISPOSED");
  });

  it("embed: a getter on the second image that disposes the engine the first was checked against", () => {
    const result = runChild(`
      const images = Array.from({ length: 64 }, () => image());
      Object.defineProperty(images[1], "width", { get() { engine.dispose(); return 112; } });
      const code = await outcome(() => engine.embed(images, true, new Float32Array(64 * 512)));
      console.log(JSON.stringify(code));
    `);
    expect(result).toBe("MFN_DISPOSED");
  });

  it("embed: a getter that transfers away an image's 64 MB pixels after they were read", () => {
    const result = runChild(`
      const big = image(4096);
      Object.defineProperty(big, "landmarks", { get() {
        structuredClone(big.data.buffer, { transfer: [big.data.buffer] });
        globalThis.gc();
        return undefined;
      } });
      const out = new Float32Array(512);
      const code = await outcome(() => engine.embed([big], true, out));
      console.log(JSON.stringify({ code, norm: Math.hypot(...out) }));
    `) as { code: string; norm: number };
    // Either the pixels as read (copied before any user code ran) or a typed error; never a crash.
    if (result.code === "ok") expect(result.norm).toBeCloseTo(1, 5);
    else expect(result.code).toBe("MFN_INVALID_DIMENSIONS");
  });

  it("public API: an Object.prototype getter that disposes the embedder mid-call", () => {
    const result = runChild(`
      let current;
      let armed = false;
      Object.defineProperty(Object.prototype, "landmarks", { configurable: true, get() {
        if (armed) { armed = false; current.dispose(); }
        return undefined;
      } });
      const codes = [];
      for (const call of [(e) => e.preprocess(image()), (e) => e.embedBatch([image(), image(), image()]),
                          (e) => e.embed(image()), (e) => e.verify(image(), image())]) {
        current = await createEmbedder({ backend: "cpu", threads: 1 });
        armed = true;
        codes.push(await outcome(() => call(current)));
      }
      delete Object.prototype.landmarks;
      console.log(JSON.stringify(codes));
    `);
    expect(result).toEqual(["MFN_DISPOSED", "MFN_DISPOSED", "MFN_DISPOSED", "MFN_DISPOSED"]);
  });
});
