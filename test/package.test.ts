// The npm package as a user gets it. Builds the prebuilt binaries
// (scripts/prebuild.mjs: incremental in build-prebuild/, about 45 s from
// scratch on 2 cores, seconds when up to date), packs the tarball, installs it
// into a fresh project with a PATH holding node and a few coreutils only (no
// cmake, compiler, make or nvcc), then, in child processes of that project:
// createEmbedder() works, its embeddings equal the local source build's bit for
// bit on real LFW images (aligned and not, flip on and off), and the CUDA plugin
// in the tarball loads far enough to say why there is no GPU. Finally a forced
// source build inside that project (`MFN_FORCE_BUILD=1 npm rebuild mfn`)
// gives the same embeddings.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, readdirSync, rmSync, statSync,
         symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { createEmbedder } from "../src/index.js";
import { packageRoot } from "../src/native.js";
import { LFW_IMAGES, hasLfw, imageSpread, landmarksOf } from "./helpers/lfw.js";

const PACKED_BUDGET_BYTES = 25_000_000;
const MAX_GLIBC = "2.34";
const platform = `${process.platform}-${process.arch}`;
const hasNvcc = existsSync("/usr/local/cuda/bin/nvcc") ||
  spawnSync("sh", ["-c", "command -v nvcc"], { encoding: "utf8" }).status === 0;
const shippedFiles = ["mfn.napi.glibc.node", ...(hasNvcc ? ["libmfn_cuda.so"] : [])];
const COMPILERS = ["cmake", "g++", "gcc", "cc", "c++", "clang", "make", "ninja", "nvcc"];

/** What the consumer script writes: which backend auto picked, and the embeddings as base64. */
interface ConsumerResult {
  auto: { backend: string; fallbackReason: string | null };
  mapped: string[];
  embeddings: Record<string, string>;
}

const CONSUMER_SCRIPT = `
import { createEmbedder } from "mfn";
import { readFileSync } from "node:fs";

const items = JSON.parse(readFileSync(process.argv[2], "utf8"))
  .map(({ path, landmarks }) => (landmarks ? { image: readFileSync(path), landmarks } : readFileSync(path)));
const mapped = () => [...new Set(readFileSync("/proc/self/maps", "utf8").split("\\n")
  .map((line) => line.split(/\\s+/).slice(5).join(" ")).filter((file) => file.includes("/node_modules/mfn/")))];

const auto = await createEmbedder({ backend: "auto", maxBatch: 16 });
const result = { auto: { backend: auto.backend, fallbackReason: auto.fallbackReason }, mapped: mapped(), embeddings: {} };
await auto.dispose();
for (const flip of [true, false]) {
  const mfn = await createEmbedder({ backend: "cpu", threads: 2, flip, maxBatch: 16 });
  const rows = await mfn.embedBatch(items);
  result.embeddings[flip ? "flip" : "noflip"] =
    Buffer.concat(rows.map((row) => Buffer.from(row.buffer, row.byteOffset, row.byteLength))).toString("base64");
  await mfn.dispose();
}
console.log(JSON.stringify(result));
`;

function run(command: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number }) {
  const started = Date.now();
  const result = spawnSync(command, args, { encoding: "utf8", maxBuffer: 256 << 20, timeout: 900_000, ...options });
  const seconds = (Date.now() - started) / 1000;
  if (result.status !== 0) {
    const output = `${result.stdout}\n${result.stderr}`.trim().split("\n").slice(-40).join("\n");
    throw new Error(`${[command, ...args].join(" ")} failed (${result.error?.message ?? result.signal ?? result.status}) ` +
                    `after ${seconds.toFixed(1)} s:\n${output}`);
  }
  return { stdout: result.stdout, stderr: result.stderr, seconds };
}

/** The npm CLI script, run with this node so that the consumer's PATH need not hold npm. */
function npmCli(): string {
  const fromPath = spawnSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).stdout.trim();
  const candidates = [
    ...(fromPath ? [realpathSync(fromPath)] : []),
    join(dirname(process.execPath), "..", "lib", "node_modules", "npm", "bin", "npm-cli.js"),
  ];
  const cli = candidates.find((path) => path.endsWith("npm-cli.js") && existsSync(path));
  if (cli === undefined) throw new Error(`npm-cli.js not found (tried ${candidates.join(", ")})`);
  return cli;
}

/** This environment without the outer npm run's settings and mfn's overrides, with `path` as PATH. */
function cleanEnv(path: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!/^(npm_|MFN_|INIT_CWD$|PATH$|VITEST|NODE_OPTIONS$)/i.test(key)) env[key] = value;
  }
  env["PATH"] = path;
  return env;
}

/** Is dist/ at least as new as every TypeScript source? */
function distIsFresh(): boolean {
  const newest = (dir: string, ext: string): number[] => readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? newest(join(dir, entry.name), ext)
      : entry.name.endsWith(ext) && !entry.name.endsWith(".d.ts") ? [statSync(join(dir, entry.name)).mtimeMs] : []);
  const dist = join(packageRoot, "dist");
  return existsSync(dist) && Math.max(...newest(join(packageRoot, "src"), ".ts")) <= Math.min(...newest(dist, ".js"));
}

function decode(base64: string): Float32Array {
  const bytes = Buffer.from(base64, "base64");
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

describe.skipIf(!hasLfw || process.platform !== "linux")("the packed npm package", () => {
  let scratch: string;
  let consumer: string;
  let strippedPath: string;
  let tarball: string;
  let pack: { size: number; unpackedSize: number; files: { path: string }[] };
  let prebuild: { glibc: string; seconds: number; files: Record<string, { bytes: number }> };
  let installLog: string;
  let result: ConsumerResult;
  let expected: Record<string, Float32Array>;
  const timings: Record<string, number> = {};
  const inputsFile = () => join(consumer, "inputs.json");

  function runConsumer(): ConsumerResult {
    const { stdout, seconds } = run(process.execPath, ["check.mjs", inputsFile()],
                                    { cwd: consumer, env: cleanEnv(strippedPath) });
    timings["consumer run"] = seconds;
    return JSON.parse(stdout.trim().split("\n").at(-1)!) as ConsumerResult;
  }

  beforeAll(async () => {
    scratch = mkdtempSync(join(tmpdir(), "mfn-package-"));

    // 1. prebuilt binaries (incremental), dist/ (only when stale: other suites read it), the tarball.
    const built = run(process.execPath, ["scripts/prebuild.mjs", ...(hasNvcc ? [] : ["--no-cuda"])], { cwd: packageRoot });
    timings["prebuild"] = built.seconds;
    prebuild = JSON.parse(readFileSync(join(packageRoot, "build-prebuild", "prebuild.json"), "utf8"));
    run(process.execPath, ["scripts/prebuild.mjs", "--check", ...(hasNvcc ? [] : ["--no-cuda"])], { cwd: packageRoot });
    if (!distIsFresh()) run(process.execPath, [join(packageRoot, "node_modules", "typescript", "bin", "tsc"),
                                                "-p", "tsconfig.json"], { cwd: packageRoot });
    const packed = run(process.execPath, [npmCli(), "pack", "--json", "--ignore-scripts", "--pack-destination", scratch],
                       { cwd: packageRoot, env: cleanEnv(process.env["PATH"] ?? "") });
    timings["npm pack"] = packed.seconds;
    pack = JSON.parse(packed.stdout)[0];
    tarball = join(scratch, (pack as unknown as { filename: string }).filename);

    // 2. a project whose PATH has node and a few coreutils only.
    consumer = join(scratch, "consumer");
    const bin = join(scratch, "bin");
    mkdirSync(consumer);
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, "node"));
    for (const tool of ["sh", "env", "cat", "ls", "rm", "mkdir", "uname"]) {
      const found = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
      if (found) symlinkSync(found, join(bin, tool));
    }
    strippedPath = bin;
    writeFileSync(join(consumer, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }));
    writeFileSync(join(consumer, "check.mjs"), CONSUMER_SCRIPT);
    const names = imageSpread(6);
    const inputs = names.flatMap((name) => [
      { path: join(LFW_IMAGES, name), landmarks: landmarksOf(name) },
      { path: join(LFW_IMAGES, name) },
    ]);
    writeFileSync(inputsFile(), JSON.stringify(inputs));

    // 3. install the tarball (its dependencies from the registry), the install script in the foreground.
    const installed = run(process.execPath,
      [npmCli(), "install", tarball, "--no-audit", "--no-fund", "--foreground-scripts", "--loglevel=warn"],
      { cwd: consumer, env: cleanEnv(strippedPath) });
    timings["npm install"] = installed.seconds;
    installLog = `${installed.stdout}\n${installed.stderr}`;
    result = runConsumer();

    // 4. the reference: the same inputs through the local source build (build/Release), in this process.
    const items = inputs.map(({ path, landmarks }) =>
      (landmarks ? { image: readFileSync(path), landmarks } : readFileSync(path)));
    expected = {};
    for (const flip of [true, false]) {
      const mfn = await createEmbedder({ backend: "cpu", threads: 2, flip, maxBatch: 16 });
      const rows = await mfn.embedBatch(items);
      const all = new Float32Array(rows.length * 512);
      rows.forEach((row, i) => all.set(row, i * 512));
      expected[flip ? "flip" : "noflip"] = all;
      await mfn.dispose();
    }
  }, 1_200_000);

  afterAll(() => {
    if (pack !== undefined) {
      console.info(`mfn package: packed ${(pack.size / 1e6).toFixed(2)} MB, unpacked ${(pack.unpackedSize / 1e6).toFixed(2)} ` +
                   `MB, ${pack.files.length} files; prebuilt binaries need glibc >= ${prebuild.glibc}; seconds: ` +
                   Object.entries(timings).map(([step, s]) => `${step} ${s.toFixed(1)}`).join(", "));
    }
    if (scratch !== undefined) rmSync(scratch, { recursive: true, force: true });
  });

  it(`packs dist/, prebuilds/${platform}/, the model, the sources the build needs, and nothing else`, () => {
    const paths = pack.files.map((file) => file.path);
    const required = [
      "package.json", "README.md", "dist/index.js", "dist/index.d.ts", "dist/native.js",
      ...shippedFiles.map((name) => `prebuilds/${platform}/${name}`),
      "models/mobilefacenet.onnx", "models/manifest.json", "models/LICENSE-model", "models/PROVENANCE.md",
      "models/blazeface_back_256.onnx", "models/detector.json", "models/LICENSE-detector", "models/PROVENANCE-detector.md",
      "CMakeLists.txt", "cmake/cuda-archs.cmake", "cpp/CMakeLists.txt", "cpp/cuda/CMakeLists.txt",
      "cpp/tools/mfn_check.cc", "binding/addon.cc", "scripts/install.mjs",
    ];
    for (const path of required) expect(paths).toContain(path);
    const allowed = /^(package\.json|README\.md|LICENSE(\.md)?|CMakeLists\.txt|cmake\/[^/]+\.cmake|cpp\/.+\.(cc|h|c|cu|cuh|map|txt)|binding\/[^/]+\.(cc|h)|dist\/.+\.(js|d\.ts)|prebuilds\/[^/]+\/[^/]+\.(node|so)|models\/(mobilefacenet\.onnx|manifest\.json|LICENSE-model|PROVENANCE\.md|blazeface_back_256\.onnx|detector\.json|LICENSE-detector|PROVENANCE-detector\.md)|scripts\/install\.mjs)$/;
    expect(paths.filter((path) => !allowed.test(path))).toEqual([]);
    expect(paths.filter((path) => path.startsWith("cpp/tests/") || path.endsWith("_test.cc"))).toEqual([]);
  });

  it(`packs into at most ${PACKED_BUDGET_BYTES / 1e6} MB; the binaries need glibc <= ${MAX_GLIBC}`, () => {
    expect(pack.size).toBeLessThanOrEqual(PACKED_BUDGET_BYTES);
    const [major, minor] = prebuild.glibc.split(".").map(Number);
    const [maxMajor, maxMinor] = MAX_GLIBC.split(".").map(Number);
    expect(major! * 1000 + minor!).toBeLessThanOrEqual(maxMajor! * 1000 + maxMinor!);
  });

  it("installs without a compiler: the PATH has none, the install script picks the prebuilt binary", () => {
    const found = spawnSync("sh", ["-c", COMPILERS.map((tool) => `command -v ${tool}`).join(" || ")],
                            { encoding: "utf8", env: cleanEnv(strippedPath) });
    expect(found.stdout.trim()).toBe("");
    expect(installLog).toContain(`mfn: using the prebuilt binary prebuilds/${platform}/mfn.napi.glibc.node`);
    // Nothing was built; the install script recorded its choice (the loader reads it: src/native.ts).
    expect(existsSync(join(consumer, "node_modules", "mfn", "build", "Release"))).toBe(false);
    const record = JSON.parse(readFileSync(join(consumer, "node_modules", "mfn", "build", "mfn-install.json"), "utf8"));
    expect(record.binary).toBe("prebuilt");
    expect(existsSync(join(consumer, "node_modules", "onnxruntime-node"))).toBe(false);
  });

  it("installs no optional peer (bullmq, ioredis); mfn/bullmq then says how to install them", () => {
    expect(existsSync(join(consumer, "node_modules", "bullmq"))).toBe(false);
    expect(existsSync(join(consumer, "node_modules", "ioredis"))).toBe(false);
    const { stdout } = run(process.execPath, ["--input-type=module", "-e",
      'import("mfn/bullmq").then(() => console.log("loaded"), (e) => console.log(e.code, e.message))'],
      { cwd: consumer, env: cleanEnv(strippedPath) });
    expect(stdout).toMatch(/^MFN_DEPENDENCY_MISSING .*npm install bullmq ioredis/);
  });

  it("createEmbedder() runs the prebuilt binary", () => {
    const installedRoot = join(consumer, "node_modules", "mfn");
    expect(result.mapped.map((file) => relative(installedRoot, file)))
      .toContain(`prebuilds/${platform}/mfn.napi.glibc.node`);
  });

  it("gives the source build's embeddings bit for bit (6 LFW images aligned and not, flip on and off)", () => {
    for (const key of ["flip", "noflip"]) {
      const actual = decode(result.embeddings[key]!);
      expect(actual.length).toBe(expected[key]!.length);
      let differing = 0;
      for (let i = 0; i < actual.length; i++) if (!Object.is(actual[i], expected[key]![i])) differing++;
      expect(differing, `${key}: ${differing} of ${actual.length} values differ`).toBe(0);
    }
  });

  it.skipIf(!hasNvcc)("the packed CUDA plugin loads far enough to say why there is no GPU", () => {
    const installedRoot = join(consumer, "node_modules", "mfn");
    expect(result.mapped.map((file) => relative(installedRoot, file))).toContain(`prebuilds/${platform}/libmfn_cuda.so`);
    if (result.auto.backend === "cuda") return;   // a machine with a GPU: the plugin works outright
    expect(result.auto.backend).toBe("cpu");
    expect(result.auto.fallbackReason).toMatch(/driver|device|libcuda/i);
    expect(result.auto.fallbackReason).not.toMatch(/cannot load the CUDA plugin|no CUDA plugin/);
  });

  it("builds from source when asked (MFN_FORCE_BUILD=1 npm rebuild mfn), with the same embeddings", () => {
    const rebuilt = run(process.execPath,
      [npmCli(), "rebuild", "mfn", "--foreground-scripts", "--loglevel=warn"],
      { cwd: consumer, env: { ...cleanEnv(process.env["PATH"] ?? ""), MFN_FORCE_BUILD: "1" } });
    timings["source build"] = rebuilt.seconds;
    expect(rebuilt.stdout).toContain("mfn: built build/Release/mfn.node from source");
    const fromSource = runConsumer();
    const installedRoot = join(consumer, "node_modules", "mfn");
    expect(fromSource.mapped.map((file) => relative(installedRoot, file))).toContain("build/Release/mfn.node");
    expect(fromSource.embeddings).toEqual(result.embeddings);
  }, 900_000);
});
