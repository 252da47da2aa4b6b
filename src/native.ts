// The only file that knows the native addon exists: it finds mfn.node, loads
// it and types what the binding exports. libmfn_cuda.so is looked up by the
// engine in the directory of the mfn.node that was loaded.
//
// Which mfn.node, in order:
//   1. MFN_BINARY=/path/to/mfn.node: that file and nothing else;
//   2. MFN_FORCE_BUILD=1: the local build, build/Release/mfn.node, and nothing else
//      (the repository's own tests set it);
//   3. the local build when the install script built it from source
//      (its record, build/mfn-install.json, says so), then the prebuilt binary;
//   4. otherwise the prebuilt binary, prebuilds/<platform>-<arch>/ (picked by
//      node-gyp-build's rules), then the local build if there is one.
// A candidate that fails to load is skipped; when none loads, the error says
// what each attempt gave and lists the fixes that match those failures.
// The install script may never have run: npm 11.16 and newer warn about (and
// npm 12 skips) the install scripts of dependencies not approved in the
// project's package.json "allowScripts", and --ignore-scripts skips them all.
// The prebuilt binary is found here all the same; the fixes say how to
// approve and run the script when it is needed (no prebuilt binary fits).
//
// Binding conventions: argument and state errors are thrown synchronously as
// Errors with a `code` (MFN_*); asynchronous failures reject the same way.
// The binding copies pixels before embed() returns and writes rows into `out`
// when the call settles; preprocess() reads pixels before it returns.

import { closeSync, existsSync, openSync, readFileSync, readSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

/** The package root: one level above src/ (sources) or dist/ (compiled). */
export const packageRoot: string = fileURLToPath(new URL("..", import.meta.url));

export type NativeBackendName = "cpu" | "cuda";

export interface NativeImage {
  data: Uint8Array | Uint8ClampedArray;   // HWC, tightly packed
  width: number;
  height: number;
  channels: 3 | 4;                        // 4: alpha last, ignored
  order: "rgb" | "bgr";
  landmarks?: Float32Array;               // 10 values: x0, y0, ..., x4, y4
}

export interface NativeEngineOptions {
  modelPath: string;
  manifestPath: string;                   // "" = manifest.json beside the model
  backend: "auto" | "cpu" | "cuda";
  threads: number;                        // 0 = all cores
  device: number;
  maxBatch: number;
  /** How long (µs) a call waits for others to share its batch; absent = the binding's default. */
  maxDelayUs?: number;
  /** Images waiting at which embed() throws MFN_QUEUE_FULL (a call of any size is admitted below); absent = 4 * maxBatch. */
  maxQueue?: number;
  /** The face detector's .onnx (its manifest: detector.json beside it); absent or "" = no detector. */
  detectorPath?: string;
}

/** What detect/embedFaces resolve with: n faces, highest score first. */
export interface NativeFaces {
  boxes: Float32Array;                    // n * 5: x, y, width, height, score
  landmarks: Float32Array;                // n * 10: the five ArcFace points
  keypoints: Float32Array;                // n * 12: the detector's six points (eyes, nose, mouth centre, ears)
  embeddings?: Float32Array;              // embedFaces: n * dimensions, unit rows
}

/** Cancels one embed call: images not yet put into a batch are skipped and the call rejects with MFN_ABORTED. */
export interface NativeCancelToken {
  cancel(): void;
  readonly cancelled: boolean;
}

/** Counters of an engine's batching queue since it was created. */
export interface NativeBatchStats {
  batches: number;                        // embedding runs (embed calls and the faces of embedFaces calls)
  images: number;                         // images in those runs
  requests: number;                       // embedding requests completed
  rejected: number;                       // calls refused with MFN_QUEUE_FULL
  largestBatch: number;
  detectionBatches: number;               // detector runs (detect and embedFaces calls share them)
  detectionImages: number;                // photos in those runs
  largestDetectionBatch: number;
  queuedImages: number;                   // images and photos waiting now, not yet in a batch
  pendingCalls: number;                   // calls accepted and not yet settled
}

export interface NativeTimings {
  preprocessMs: number;
  hostToDeviceMs: number;
  computeMs: number;
  deviceToHostMs: number;
}

export interface NativeEngine {
  readonly backend: NativeBackendName;
  readonly fallbackReason: string;        // "" when nothing fell back
  readonly detectorBackend: NativeBackendName | "";  // "" without a detector
  readonly detectorFallbackReason: string;           // "" when the detector runs where the embeddings do
  readonly dimensions: number;
  readonly inputShape: [channels: number, height: number, width: number];
  readonly maxBatch: number;
  readonly disposed: boolean;
  /**
   * Embeds images into out[images.length * dimensions] (unit rows) through the
   * engine's batching queue. Validates and copies every image first and throws
   * its error; throws MFN_QUEUE_FULL when the queue holds maxQueue images.
   */
  embed(images: NativeImage[], flip: boolean, out: Float32Array, cancel?: NativeCancelToken): Promise<void>;
  /** Writes the model input (NCHW, c*h*w values) of one image. Synchronous. */
  preprocess(image: NativeImage, mirror: boolean, out: Float32Array): void;
  /** Side of the detector's square input; 0 without a detector. */
  readonly detectorInputSize: number;
  /** Faces in one image; the pixels are copied at call time. */
  detect(image: NativeImage, maxFaces: number, minScore: number, cancel?: NativeCancelToken): Promise<NativeFaces>;
  /** detect, then each face aligned and embedded, in one engine call. */
  embedFaces(image: NativeImage, maxFaces: number, minScore: number, flip: boolean, cancel?: NativeCancelToken): Promise<NativeFaces>;
  /** The letterboxed detector input (NCHW, 3 * size * size values) of one image. Synchronous. */
  detectorInput(image: NativeImage, out: Float32Array): void;
  /** The detector's raw outputs for one image (each NHWC, manifest order, concatenated). */
  detectorOutputs(image: NativeImage): Promise<Float32Array>;
  lastTimings(): NativeTimings;
  batchStats(): NativeBatchStats;
  /** Idempotent; resolves once queued calls have finished and the engine is gone. */
  dispose(): Promise<void>;
}

export type NativeGalleryPrecision = "float32" | "float16" | "int8";

export interface NativeGalleryMatch {
  id: string;
  similarity: number;
}

/** One mfn::Gallery (binding/gallery_wrap.h). add/remove/has are synchronous; search and save run off the JS thread. */
export interface NativeGallery {
  readonly size: number;                  // 0 after dispose()
  readonly dimensions: number;
  readonly precision: NativeGalleryPrecision;
  readonly threads: number;
  readonly bytesPerVector: number;        // stored row (padded) + its scale, without the id
  readonly disposed: boolean;
  add(id: string, embedding: Float32Array): void;
  remove(id: string): boolean;
  has(id: string): boolean;
  /** queries: count * dimensions values (copied at the call); one list per query, highest first. */
  search(queries: Float32Array, k: number, minSimilarity: number, cancel?: NativeCancelToken):
    Promise<NativeGalleryMatch[][]>;
  save(path: string): Promise<void>;
  /** Idempotent; resolves once running calls have settled and the gallery is freed. */
  dispose(): Promise<void>;
}

export interface NativeBinding {
  createEngine(options: NativeEngineOptions): Promise<NativeEngine>;
  createGallery(options: { dimensions: number; precision: NativeGalleryPrecision; threads: number }): NativeGallery;
  loadGallery(path: string, threads: number): Promise<NativeGallery>;
  CancelToken: new () => NativeCancelToken;
  /** Where mfn.node was loaded from; libmfn_cuda.so is looked up there. */
  readonly pluginDir: string;
}

/** Where a candidate mfn.node comes from. */
export type BinaryOrigin = "MFN_BINARY" | "MFN_FORCE_BUILD" | "source build" | "prebuilt" | "local build";

export interface BinaryCandidate {
  origin: BinaryOrigin;
  path: string;
}

/**
 * Written by scripts/install.mjs each time it runs: { binary: "prebuilt" } or
 * { binary: "source" } (a record without `binary`, from older versions, is a
 * source build). A source build is then preferred to the prebuilt binary.
 */
export const INSTALL_RECORD = join("build", "mfn-install.json");

/** What the install script chose, or undefined when it has not run. */
export function installRecord(root: string = packageRoot): "prebuilt" | "source" | undefined {
  let text: string;
  try {
    text = readFileSync(join(root, INSTALL_RECORD), "utf8");
  } catch {
    return undefined;
  }
  try {
    return (JSON.parse(text) as { binary?: unknown }).binary === "prebuilt" ? "prebuilt" : "source";
  } catch {
    return "source";
  }
}
export const LOCAL_BUILD = join("build", "Release", "mfn.node");

// node-gyp-build's own matching rules, which it exports next to load().
interface Tuple { name: string; architectures: string[] }
interface Tags { file: string }
interface NodeGypBuild {
  parseTuple(name: string): Tuple | undefined;
  matchTuple(platform: string, arch: string): (tuple: Tuple | undefined) => boolean;
  compareTuples(a: Tuple, b: Tuple): number;
  parseTags(file: string): Tags | undefined;
  matchTags(runtime: string, abi: string): (tags: Tags | undefined) => boolean;
  compareTags(runtime: string): (a: Tags, b: Tags) => number;
}

const requireHere = createRequire(import.meta.url);

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** The platform folders under prebuilds/, e.g. ["linux-x64"]. */
export function shippedPlatforms(root: string = packageRoot): string[] {
  return listDir(join(root, "prebuilds")).filter((name) => /^[a-z0-9]+-[a-z0-9+]+$/.test(name));
}

/**
 * The prebuilt mfn.node node-gyp-build would pick for this process (platform,
 * arch, libc, Node-API), or undefined. Unlike node-gyp-build itself, a local
 * build never shadows it.
 */
export function resolvePrebuilt(root: string = packageRoot): string | undefined {
  const gyp = requireHere("node-gyp-build") as NodeGypBuild;
  const tuple = shippedPlatforms(root)
    .map((name) => gyp.parseTuple(name))
    .filter((t): t is Tuple => gyp.matchTuple(process.platform, process.arch)(t))
    .sort(gyp.compareTuples)[0];
  if (tuple === undefined) return undefined;
  const dir = join(root, "prebuilds", tuple.name);
  const winner = listDir(dir)
    .map((file) => gyp.parseTags(file))
    .filter((t): t is Tags => gyp.matchTags("node", process.versions.modules)(t))
    .sort(gyp.compareTags("node"))[0];
  return winner === undefined ? undefined : join(dir, winner.file);
}

function flagSet(value: string | undefined): boolean {
  return value !== undefined && value !== "" && value !== "0" && value.toLowerCase() !== "false";
}

/** The mfn.node files to try, best first (see the top of this file). */
export function binaryCandidates(root: string = packageRoot, env: NodeJS.ProcessEnv = process.env): BinaryCandidate[] {
  const explicit = env["MFN_BINARY"];
  if (explicit !== undefined && explicit !== "") return [{ origin: "MFN_BINARY", path: explicit }];
  const local = join(root, LOCAL_BUILD);
  if (flagSet(env["MFN_FORCE_BUILD"])) return [{ origin: "MFN_FORCE_BUILD", path: local }];

  const candidates: BinaryCandidate[] = [];
  const prebuilt = resolvePrebuilt(root);
  const builtAtInstall = installRecord(root) === "source";
  if (builtAtInstall) candidates.push({ origin: "source build", path: local });
  if (prebuilt !== undefined) candidates.push({ origin: "prebuilt", path: prebuilt });
  if (!builtAtInstall && existsSync(local)) candidates.push({ origin: "local build", path: local });
  return candidates;
}

export interface LoadFailure {
  candidate: BinaryCandidate;
  message: string;                         // "not found" when the file does not exist
}

export interface LoadContext {
  root: string;
  platform: string;                        // e.g. "linux-x64"
  shipped: string[];                       // prebuilds/ folders
  glibc: string | undefined;               // this system's glibc, undefined on musl or non-Linux
  node: string;
  /** Whether the install script has run here; absent in a development checkout, where it builds nothing. */
  installScript?: "ran" | "not run";
}

export function loadContext(root: string = packageRoot): LoadContext {
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return {
    root,
    platform: `${process.platform}-${process.arch}`,
    shipped: shippedPlatforms(root),
    glibc: process.platform === "linux" ? header?.glibcVersionRuntime : undefined,
    node: process.versions.node,
    ...(existsSync(join(root, "cpp", "tests")) ? {}
      : { installScript: installRecord(root) === undefined ? "not run" as const : "ran" as const }),
  };
}

// npm 11.16 and newer run a dependency's install script only once the
// project approves it, and warn that --build-from-source (an unknown npm
// option) will stop working: the environment variable always reaches the script.
const APPROVE = "`npm install-scripts approve mfn` (npm 11.16 or newer; it adds mfn to allowScripts in package.json)";
const BUILD_FROM_SOURCE =
  `build from source: ${APPROVE}, then \`MFN_FORCE_BUILD=1 npm rebuild mfn\` (needs CMake >= 3.18 and a C++17 ` +
  "compiler such as g++ >= 9; with nvcc on the PATH the CUDA plugin is built too)";

/** The fixes that match one failed attempt. */
function fixesFor({ candidate, message }: LoadFailure, context: LoadContext, where: string): string[] {
  const fixes: string[] = [];
  if (candidate.origin === "MFN_BINARY") {
    fixes.push(message === "not found"
      ? `MFN_BINARY is set to ${candidate.path}, which does not exist: point it at a built mfn.node, or unset it`
      : `MFN_BINARY is set to ${candidate.path}, which does not load: unset it to use the package's own binary`);
  }
  if (candidate.origin === "MFN_FORCE_BUILD" && message === "not found") {
    fixes.push(`MFN_FORCE_BUILD is set but there is no local build (${LOCAL_BUILD}): build it (\`npm run build:native\` ` +
               "in a checkout, `MFN_FORCE_BUILD=1 npm rebuild mfn` in a project), or unset MFN_FORCE_BUILD to use " +
               "the prebuilt binary");
  }
  const glibc = /GLIBC_(\d+\.\d+)/.exec(message);
  const glibcxx = /(GLIBCXX_[\d.]+|CXXABI_[\d.]+)/.exec(message);
  if (glibc !== null) {
    fixes.push(`${where} needs glibc ${glibc[1]} or newer and this system has ${context.glibc ?? "an unknown libc"}: ` +
               "use a newer distribution (glibc 2.34: Debian 12, Ubuntu 22.04, RHEL 9, Amazon Linux 2023 or later), " +
               "or " + BUILD_FROM_SOURCE);
  } else if (glibcxx !== null) {
    fixes.push(`${where} needs a newer libstdc++ (${glibcxx[1]}) than this system has, so it was built on ` +
               "another machine: rebuild it here: " + BUILD_FROM_SOURCE);
  }
  if (/wrong ELF class|built for \w+, this process|Exec format error/i.test(message)) {
    fixes.push(`${where} was built for another architecture (node_modules copied from another machine?): ` +
               "reinstall the package on this machine (`rm -rf node_modules && npm install`)");
  } else if (/invalid ELF header|file too short/i.test(message)) {
    fixes.push(`${where} is not a Linux library or is damaged (copied from another operating system, or an ` +
               "interrupted install?): reinstall the package on this machine (`rm -rf node_modules && npm install`)");
  }
  if (/undefined symbol: (napi|node_api)_/.test(message)) {
    fixes.push(`Node.js ${context.node} lacks Node-API functions ${where} needs: use Node.js 20.9 or newer`);
  }
  return fixes;
}

/** The fixes when no prebuilt binary was even tried. */
function missingPrebuiltFix(context: LoadContext): string {
  if (context.platform.startsWith("linux-") && context.glibc === undefined && context.shipped.includes(context.platform)) {
    return "the prebuilt binaries are for glibc systems and this one uses musl (Alpine?): " + BUILD_FROM_SOURCE;
  }
  if (context.shipped.length === 0) {
    return "this copy of the package has no prebuilt binaries (a git checkout, or packed without " +
           "`npm run build:prebuilds`): " + BUILD_FROM_SOURCE;
  }
  if (!context.shipped.includes(context.platform)) {
    return `there is no prebuilt binary for ${context.platform} (only for ${context.shipped.join(", ")}): ` +
           BUILD_FROM_SOURCE;
  }
  return `prebuilds/${context.platform} has no binary for this Node.js: ` + BUILD_FROM_SOURCE;
}

/**
 * The error message when no candidate loaded: what each attempt gave, then the
 * fixes that match those failures.
 */
export function loadFailureMessage(failures: LoadFailure[], context: LoadContext): string {
  const where = (path: string) => (path.startsWith(context.root) ? relative(context.root, path) : path);
  const fixes = new Set<string>();
  for (const failure of failures) {
    for (const fix of fixesFor(failure, context, where(failure.candidate.path))) fixes.add(fix);
  }
  const explicit = failures.some((f) => f.candidate.origin === "MFN_BINARY" || f.candidate.origin === "MFN_FORCE_BUILD");
  if (!explicit && context.installScript === "not run") {
    fixes.add("mfn's install script has not run here (npm 11.16 or newer skips or warns about dependencies' install " +
              "scripts that package.json's allowScripts does not approve; --ignore-scripts skips them all), so " +
              `nothing checked the prebuilt binary or built one for this machine: run ${APPROVE}, then ` +
              "`npm rebuild mfn`, which uses the prebuilt binary when it works here and builds from source otherwise");
  }
  if (!explicit && !failures.some((f) => f.candidate.origin === "prebuilt")) fixes.add(missingPrebuiltFix(context));
  if (fixes.size === 0) {
    fixes.add("reinstall the package on this machine: its install script checks the prebuilt binary, builds from " +
              `source when it does not fit, and says why (npm 11.16 or newer runs it once approved: ${APPROVE})`);
    fixes.add(BUILD_FROM_SOURCE);
  }

  const tried = failures.length === 0
    ? ["- nothing: no prebuilt binary matches and there is no local build"]
    : failures.map(({ candidate, message }) => `- ${candidate.origin} ${where(candidate.path)}: ${message}`);
  return [
    `Could not load the mfn native addon for ${context.platform} (Node.js ${context.node}` +
      `${context.glibc === undefined ? "" : `, glibc ${context.glibc}`}) from ${context.root}`,
    "Tried:",
    ...tried,
    "Possible fixes:",
    ...[...fixes].map((fix) => `- ${fix}`),
  ].join("\n");
}

const ELF_MACHINES: Record<number, string> = {
  0x03: "ia32", 0x08: "mips", 0x14: "ppc", 0x15: "ppc64", 0x16: "s390x", 0x28: "arm", 0x3e: "x64", 0xb7: "arm64",
  0xf3: "riscv64", 0x102: "loong64",
};

/** The architecture an ELF file was built for, or undefined when it is not ELF. */
function elfArchitecture(path: string): string | undefined {
  const header = Buffer.alloc(20);
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    if (readSync(fd, header, 0, 20, 0) < 20) return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (header.readUInt32BE(0) !== 0x7f454c46) return undefined;
  const machine = header[5] === 2 ? header.readUInt16BE(18) : header.readUInt16LE(18);
  return ELF_MACHINES[machine] ?? `ELF machine ${machine}`;
}

/** The first line of a load error; glibc's message for another architecture ("cannot open") is made explicit. */
function describeLoadError(path: string, error: unknown): string {
  const message = (error instanceof Error ? error.message : String(error)).split("\n")[0]!.trim();
  const arch = process.platform === "linux" ? elfArchitecture(path) : undefined;
  return arch !== undefined && arch !== process.arch ? `${message} (built for ${arch}, this process is ${process.arch})`
                                                      : message;
}

/** Loads the first candidate that works; throws the error of loadFailureMessage otherwise. */
export function loadBinding(root: string = packageRoot, env: NodeJS.ProcessEnv = process.env): NativeBinding {
  const failures: LoadFailure[] = [];
  const errors: unknown[] = [];
  for (const candidate of binaryCandidates(root, env)) {
    if (!existsSync(candidate.path)) {
      failures.push({ candidate, message: "not found" });
      continue;
    }
    try {
      return requireHere(candidate.path) as NativeBinding;
    } catch (error) {
      failures.push({ candidate, message: describeLoadError(candidate.path, error) });
      errors.push(error);
    }
  }
  throw new Error(loadFailureMessage(failures, loadContext(root)),
                  errors.length > 0 ? { cause: errors[errors.length - 1] } : undefined);
}

let loaded: NativeBinding | undefined;

/** The addon, loaded on first use so that importing the package never throws. */
export function nativeBinding(): NativeBinding {
  loaded ??= loadBinding();
  return loaded;
}
