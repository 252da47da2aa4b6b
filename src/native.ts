// The only file that knows the native addon exists: it loads mfn.node with
// node-gyp-build from the package root (a local build in build/Release, else
// prebuilds/<platform>-<arch>) and types what the binding exports.
//
// Binding conventions: argument and state errors are thrown synchronously as
// Errors with a `code` (MFN_*); asynchronous failures reject the same way.
// Pixel data is read in place and must stay untouched until the call settles.

import { createRequire } from "node:module";
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
  /** Images the batching queue holds before embed() throws MFN_QUEUE_FULL; absent = 4 * maxBatch. */
  maxQueue?: number;
}

/** Cancels one embed call: images not yet put into a batch are skipped and the call rejects with MFN_ABORTED. */
export interface NativeCancelToken {
  cancel(): void;
  readonly cancelled: boolean;
}

/** Counters of an engine's batching queue since it was created. */
export interface NativeBatchStats {
  batches: number;                        // engine runs
  images: number;                         // images in those runs
  requests: number;                       // embed calls completed
  rejected: number;                       // embed calls refused with MFN_QUEUE_FULL
  largestBatch: number;
  queuedImages: number;                   // images waiting now, not yet in a batch
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
  readonly dimensions: number;
  readonly inputShape: [channels: number, height: number, width: number];
  readonly maxBatch: number;
  readonly disposed: boolean;
  /**
   * Embeds images into out[images.length * dimensions] (unit rows) through the
   * engine's batching queue. Validates every image first and throws its error;
   * throws MFN_QUEUE_FULL when the queue holds maxQueue images.
   */
  embed(images: NativeImage[], flip: boolean, out: Float32Array, cancel?: NativeCancelToken): Promise<void>;
  /** Writes the model input (NCHW, c*h*w values) of one image. Synchronous. */
  preprocess(image: NativeImage, mirror: boolean, out: Float32Array): void;
  lastTimings(): NativeTimings;
  batchStats(): NativeBatchStats;
  /** Idempotent; resolves once queued calls have finished and the engine is gone. */
  dispose(): Promise<void>;
}

export interface NativeBinding {
  createEngine(options: NativeEngineOptions): Promise<NativeEngine>;
  CancelToken: new () => NativeCancelToken;
  /** Where mfn.node was loaded from; libmfn_cuda.so is looked up there. */
  readonly pluginDir: string;
}

function loadBinding(): NativeBinding {
  const require = createRequire(import.meta.url);
  const load = require("node-gyp-build") as (dir: string) => unknown;
  try {
    return load(packageRoot) as NativeBinding;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const fixes = [
      `- build it from source: run "npm run build:native" in ${packageRoot} (needs cmake and a C++17 compiler)`,
      `- or reinstall the package on ${process.platform}-${process.arch} so that its prebuilt binary is used`,
    ];
    if (/GLIBC_|GLIBCXX_/.test(reason)) {
      fixes.unshift("- this binary needs a newer glibc/libstdc++ than this system has: build from source");
    }
    throw new Error(`Could not load the mfn native addon (${reason}).\nPossible fixes:\n${fixes.join("\n")}`,
                    { cause: error });
  }
}

let loaded: NativeBinding | undefined;

/** The addon, loaded on first use so that importing the package never throws. */
export function nativeBinding(): NativeBinding {
  loaded ??= loadBinding();
  return loaded;
}
