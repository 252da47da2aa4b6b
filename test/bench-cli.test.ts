// mfn-bench end to end: the compiled CLI (dist/bench/cli.js, built by
// `npm run build`) on the real engine and onnxruntime-node with tiny
// settings, its JSON and SVG; and its answers to bad options.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import sharp from "sharp";
import { afterAll, describe, expect, it } from "vitest";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "dist", "bench", "cli.js");
const tmp = mkdtempSync(join(tmpdir(), "mfn-bench-test-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function bench(args: string[], timeoutMs = 120_000) {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run "npm run build:ts" first`);
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: "utf8", timeout: timeoutMs });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Minimal well-formedness: every tag closes in order, no stray "<" or "&".
function checkXml(text: string): string[] {
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(text); m !== null; m = tag.exec(text)) {
    const between = text.slice(last, m.index);
    expect(between, `stray markup before offset ${m.index}`).not.toMatch(/<|&(?!(amp|lt|gt|quot|apos);)/);
    last = tag.lastIndex;
    if (m[1] === "/") expect(stack.pop(), `closing </${m[2]}>`).toBe(m[2]);
    else if (m[4] !== "/") stack.push(m[2]);
  }
  expect(text.slice(last).trim()).toBe("");
  expect(stack).toEqual([]);
  return [...text.matchAll(/<g class="series" data-label="([^"]*)"/g)].map((m) => m[1]);
}

interface Result {
  engine: string;
  backend: string;
  flip: boolean;
  batch: number;
  concurrency: number;
  calls: number;
  images: number;
  seconds: number;
  cpuCores: number;
  imagesPerSec: number;
  embeddingsPerSec: number;
  passesPerSec: number;
  latencyMs: { min: number; p50: number; p90: number; p99: number; max: number; mean: number };
  stagesMs: { preprocess: number; hostToDevice: number; compute: number; deviceToHost: number; jsRoundTrip: number } | null;
}

describe("mfn-bench end to end", () => {
  it("measures mfn and onnxruntime-node, writes JSON and an SVG chart", () => {
    const json = join(tmp, "out", "bench.json");
    const chart = join(tmp, "out", "bench.svg");
    const r = bench(["--batch", "1,2", "--concurrency", "1,3", "--warmup", "2it", "--duration", "0.3", "--peers", "--json", json, "--chart", chart]);
    expect(r.stderr).not.toMatch(/FAILED/);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("synthetic pixels");
    expect(r.stdout).toMatch(/engine\s+backend\s+flip\s+batch\s+conc\s+calls\s+img\/s\s+passes\/s\s+p50\s+p90\s+p99/);

    const doc = JSON.parse(readFileSync(json, "utf8"));
    expect(doc.tool).toBe("mfn-bench");
    expect(doc.command).toMatch(/^mfn-bench .*--peers/);
    expect(doc.machine.cpu.model.length).toBeGreaterThan(0);
    expect(doc.machine.cpu.cores).toBeGreaterThanOrEqual(1);
    expect(Array.isArray(doc.machine.gpus)).toBe(true);
    expect(doc.versions.node).toBe(process.versions.node);
    expect(doc.versions.mfn).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.versions.onnxruntimeNode).toMatch(/^\d+\.\d+\.\d+/);
    expect(doc.source.commit === null || /^[0-9a-f]{40}$/.test(doc.source.commit)).toBe(true);
    expect(doc.input.kind).toBe("synthetic");
    expect(doc.peer).toMatchObject({ name: "onnxruntime-node", intraOpNumThreads: doc.settings.threads, interOpNumThreads: 1 });

    const results = doc.results as Result[];
    // batch 1, batch 2, 3 concurrent calls; mfn then the peer for each.
    expect(results.map((x) => [x.engine, x.batch, x.concurrency])).toEqual([
      ["mfn", 1, 1], ["onnxruntime-node", 1, 1],
      ["mfn", 2, 1], ["onnxruntime-node", 2, 1],
      ["mfn", 1, 3], ["onnxruntime-node", 1, 3],
    ]);
    for (const x of results) {
      expect(x.flip).toBe(true);
      expect(x.backend).toBe("cpu");
      expect(x.calls).toBeGreaterThanOrEqual(1);
      expect(x.images).toBe(x.calls * x.batch);
      expect(x.imagesPerSec).toBeGreaterThan(0);
      expect(x.imagesPerSec).toBeCloseTo(x.images / x.seconds, 6);
      expect(x.embeddingsPerSec).toBe(x.imagesPerSec);
      expect(x.passesPerSec).toBeCloseTo(2 * x.imagesPerSec, 6);
      expect(x.cpuCores).toBeGreaterThan(0);
      const l = x.latencyMs;
      expect(l.min).toBeGreaterThan(0);
      expect(l.min).toBeLessThanOrEqual(l.p50);
      expect(l.p50).toBeLessThanOrEqual(l.p90);
      expect(l.p90).toBeLessThanOrEqual(l.p99);
      expect(l.p99).toBeLessThanOrEqual(l.max);
      if (x.engine === "mfn") {
        const s = x.stagesMs!;
        expect(s.compute).toBeGreaterThan(0);
        for (const v of [s.preprocess, s.hostToDevice, s.deviceToHost]) expect(v).toBeGreaterThanOrEqual(0);
        // Native stages fit inside the call at batch 1 with one call in flight.
        if (x.concurrency === 1) expect(s.preprocess + s.compute).toBeLessThanOrEqual(l.max);
      } else {
        expect(x.stagesMs).toBeNull();
      }
    }

    const svg = readFileSync(chart, "utf8");
    expect(svg.startsWith("<svg")).toBe(true);
    const series = checkXml(svg);
    expect(series).toEqual(expect.arrayContaining([
      "mfn cpu, flip on",
      "mfn cpu, flip on, concurrent embed() calls",
      "onnxruntime-node cpu, flip on",
    ]));
    expect(svg).toContain("images/s vs batch size");
    expect(svg).toContain(doc.machine.cpu.model.replace(/&/g, "&amp;"));
  }, 180_000);

  it("runs exactly --iterations timed calls, without flip", () => {
    const json = join(tmp, "iterations.json");
    const r = bench(["--batch", "3", "--concurrency", "1", "--flip", "off", "--warmup", "0", "--iterations", "4", "--max-delay-us", "0", "--json", json]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(json, "utf8"));
    expect(doc.settings).toMatchObject({ maxDelayUs: 0, flips: [false], measure: { unit: "calls", value: 4 } });
    const [x] = doc.results as Result[];
    expect(x).toMatchObject({ engine: "mfn", flip: false, batch: 3, calls: 4, images: 12 });
    expect(x.passesPerSec).toBeCloseTo(x.imagesPerSec, 6);
  }, 120_000);

  it("decodes an --input folder once and feeds both engines from it", async () => {
    const dir = join(tmp, "faces", "nested");
    mkdirSync(dir, { recursive: true });
    for (let k = 0; k < 3; k++) {
      const pixels = Buffer.alloc(150 * 130 * 3, 40 + 60 * k);
      await sharp(pixels, { raw: { width: 150, height: 130, channels: 3 } }).png().toFile(join(dir, `face${k}.png`));
    }
    writeFileSync(join(dir, "notes.txt"), "not an image");
    const json = join(tmp, "input.json");
    const r = bench(["--input", join(tmp, "faces"), "--batch", "4", "--concurrency", "1", "--warmup", "1it", "--iterations", "2", "--peers", "--ort-opt", "extended", "--json", json]);
    expect(r.code).toBe(0);
    const doc = JSON.parse(readFileSync(json, "utf8"));
    expect(doc.input).toMatchObject({ kind: "folder" });
    expect(doc.input.description).toMatch(/^3 of 3 images from .*150x130/);
    const results = doc.results as (Result & { peerTuning: unknown })[];
    expect(results.map((x) => [x.engine, x.calls, x.images])).toEqual([["mfn", 2, 8], ["onnxruntime-node", 2, 8]]);
    expect(results[1].peerTuning).toEqual({ graphOptimizationLevel: "extended", msPerRun: null });
  }, 120_000);
});

describe("mfn-bench without a GPU", () => {
  const hasGpu = spawnSync("nvidia-smi", ["-L"], { encoding: "utf8" }).status === 0;
  it.skipIf(hasGpu)("--backend cuda fails once, skips the rest, exits 1 and still writes the JSON", () => {
    const json = join(tmp, "cuda.json");
    const r = bench(["--backend", "cuda", "--batch", "1,2", "--concurrency", "1", "--warmup", "0", "--iterations", "1", "--json", json]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/FAILED \(mfn cuda flip on batch 1 conc 1; mfn cuda flip on batch 2 conc 1\):/);
    const doc = JSON.parse(readFileSync(json, "utf8"));
    expect(doc.results.map((x: { during: string }) => x.during)).toEqual(["load", "skipped"]);
    expect(doc.results[0].error.length).toBeGreaterThan(0);
  });
});

describe("mfn-bench bad options", () => {
  const cases: [string[], RegExp][] = [
    [["--batch", "0"], /--batch.*integers from 1/],
    [["--batch", "1,x"], /--batch.*"x"/],
    [["--flip", "maybe"], /--flip.*maybe.*on, off, both/],
    [["--frobnicate"], /unknown option '--frobnicate'/],
    [["--duration", "-1"], /--duration.*-1.*> 0/],
    [["--duration", "1", "--iterations", "5"], /cannot be used with/],
    [["--warmup", "soon"], /--warmup.*seconds.*calls/],
    [["--backend", "tpu"], /auto, cpu or cuda/],
    [["--max-delay-us", "-5"], /--max-delay-us.*integer from 0/],
    [["--input", join(tmpdir(), "no-such-folder-for-mfn-bench")], /--input: no such folder/],
  ];
  for (const [args, message] of cases) {
    it(`${args.join(" ")} -> exit 2 with a message`, () => {
      const r = bench(args, 30_000);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stdout).toBe("");
    });
  }
});
