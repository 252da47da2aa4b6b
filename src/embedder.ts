// createEmbedder() and the Embedder: option checks, input decoding, and the
// calls into the native engine. Every public method records its caller's
// stack first, so that errors point at user code.

import { dirname, join } from "node:path";
import { types } from "node:util";

import { DEFAULT_VERIFY_THRESHOLD } from "./calibration.js";
import { MfnError, atCallSite, callSite, invalidParameter } from "./errors.js";
import { type ImageInput, type Landmarks, toNativeImage, toNativeLandmarks } from "./inputs.js";
import { type NativeCancelToken, type NativeEngine, type NativeImage, nativeBinding, packageRoot } from "./native.js";

export type BackendName = "cpu" | "cuda";

export interface EmbedderOptions {
  /** "auto" (default): CUDA when a usable GPU and the plugin are present, else CPU. */
  backend?: "auto" | "cpu" | "cuda";
  /** Add the embedding of the mirrored face (default true). */
  flip?: boolean;
  /** CPU threads; 0 or absent = all cores. */
  threads?: number;
  /** GPU ordinal (default 0). */
  device?: number;
  /** Path to an .onnx model with manifest.json beside it; default: the bundled MobileFaceNet. */
  model?: string;
  /** Images per backend call (default 256): the largest batch the queue forms. */
  maxBatch?: number;
  /**
   * How long, in microseconds, a call waits for other calls to share its
   * batch before it runs with whatever is waiting (default 250). Concurrent
   * calls are coalesced into batches of up to maxBatch images; calls that
   * arrive while a batch runs form the next one whatever this delay.
   */
  maxDelayUs?: number;
  /**
   * Images waiting in the batching queue beyond which a call rejects at once
   * with MFN_QUEUE_FULL (default 4 * maxBatch). A call larger than this still
   * runs when the queue is empty.
   */
  maxQueue?: number;
}

export interface EmbedOptions {
  /** Overrides the embedder's flip setting for this call. */
  flip?: boolean;
  /** Five landmarks in the image: the face is aligned to the ArcFace template first. */
  landmarks?: Landmarks;
  /** Aborting rejects the call with MFN_ABORTED; images not yet batched are never run. */
  signal?: AbortSignal;
}

export interface EmbedBatchOptions {
  flip?: boolean;
  /** Aborting rejects the call with MFN_ABORTED; images not yet batched are never run. */
  signal?: AbortSignal;
}

export type BatchItem = ImageInput | { image: ImageInput; landmarks?: Landmarks };

export interface VerifyOptions {
  /** Cosine similarity at or above which the faces match; default DEFAULT_VERIFY_THRESHOLD. */
  threshold?: number;
  flip?: boolean;
  /** Aborting rejects the call with MFN_ABORTED; images not yet batched are never run. */
  signal?: AbortSignal;
}

export interface VerifyResult {
  /** Cosine similarity of the two embeddings, in [-1, 1]. */
  similarity: number;
  match: boolean;
  threshold: number;
}

export interface PreprocessOptions {
  /** The horizontally mirrored model input, as used for flip. */
  mirror?: boolean;
  landmarks?: Landmarks;
}

/** Wall-clock milliseconds of the stages of the last embed call; stages a backend lacks are 0. */
export interface StageTimings {
  preprocessMs: number;
  hostToDeviceMs: number;
  computeMs: number;
  deviceToHostMs: number;
}

export interface Embedder {
  /** The backend that runs the model. */
  readonly backend: BackendName;
  /** Why the backend is not CUDA (GPU, driver or plugin missing); null when nothing fell back. */
  readonly fallbackReason: string | null;
  /** Length of an embedding (512 for MobileFaceNet). */
  readonly dimensions: number;
  /** Default flip setting of embed/embedBatch/verify. */
  readonly flip: boolean;
  /** A unit-length embedding of one face. */
  embed(input: ImageInput, options?: EmbedOptions): Promise<Float32Array>;
  /** Embeddings of many faces, in input order (one request to the batching queue). */
  embedBatch(inputs: ReadonlyArray<BatchItem>, options?: EmbedBatchOptions): Promise<Float32Array[]>;
  /** Cosine similarity of two faces (images or embeddings) and the match decision. */
  verify(a: ImageInput | Float32Array, b: ImageInput | Float32Array, options?: VerifyOptions): Promise<VerifyResult>;
  /** The model input the engine feeds the network (NCHW, c*h*w values, normalised). */
  preprocess(input: ImageInput, options?: PreprocessOptions): Promise<Float32Array>;
  lastTimings(): StageTimings;
  /**
   * Stops the embedder at once, without waiting for pending calls: calls
   * whose batch is already running finish and resolve; calls still waiting
   * in the batching queue (or still decoding their images) reject with
   * MFN_DISPOSED, as does every later call. Resolves once the engine is
   * gone (after the running batch). Idempotent. To drain instead, await
   * your calls before calling dispose().
   */
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export function checkOptions<T extends object>(value: unknown, name: string, allowed: ReadonlyArray<keyof T & string>): T {
  if (value === undefined) return {} as T;
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw invalidParameter(name, "an object", value);
  }
  for (const key of Object.keys(value)) {
    if (!(allowed as readonly string[]).includes(key)) {
      throw new MfnError("MFN_INVALID_ARGUMENT",
        `Expected one of ${allowed.join(", ")} for the keys of ${name} but received "${key}"`);
    }
  }
  return value as T;
}

function checkBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw invalidParameter(name, "a boolean", value);
  return value;
}

export function checkInteger(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalidParameter(name, `an integer between ${min} and ${max}`, value);
  }
  return value;
}

function checkOptionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : checkInteger(value, name, min, max, 0);
}

export function checkSignal(value: unknown, name: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidParameter(name, "an AbortSignal", value);
  return value;
}

function disposedError(): MfnError {
  return new MfnError("MFN_DISPOSED", "This embedder has been disposed");
}

export function abortedError(signal: AbortSignal): MfnError {
  return new MfnError("MFN_ABORTED", "The operation was aborted", { cause: signal.reason });
}

/**
 * Runs `start` (one native embed) under `signal`: settles with its result, or
 * rejects with MFN_ABORTED as soon as the signal fires. Aborting also cancels
 * the native call, so that images the batching queue has not yet run are
 * skipped; a batch already running finishes and its result is dropped.
 */
export function abortable<T>(signal: AbortSignal | undefined, start: (cancel?: NativeCancelToken) => Promise<T>): Promise<T> {
  if (signal === undefined) return start();
  if (signal.aborted) return Promise.reject(abortedError(signal));
  const token = new (nativeBinding().CancelToken)();
  const work = start(token);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => {
      token.cancel();
      reject(abortedError(signal));
    };
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => { signal.removeEventListener("abort", onAbort); resolve(value); },
      (error: unknown) => { signal.removeEventListener("abort", onAbort); reject(error); },
    );
  });
}

function isBatchEntry(item: unknown): item is { image: ImageInput; landmarks?: Landmarks } {
  return typeof item === "object" && item !== null && !ArrayBuffer.isView(item) && "image" in item &&
    !("data" in item);
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    aa += a[i]! * a[i]!;
    bb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(aa * bb);
}

class EmbedderImpl implements Embedder {
  readonly backend: BackendName;
  readonly fallbackReason: string | null;
  readonly dimensions: number;
  readonly flip: boolean;
  readonly #native: NativeEngine;
  readonly #inputValues: number;
  // Set by dispose(): new public calls reject at once. Calls already
  // started that reach the native engine afterwards (their images were
  // still decoding) get MFN_DISPOSED from it.
  #disposed = false;

  constructor(native: NativeEngine, flip: boolean) {
    this.#native = native;
    this.backend = native.backend;
    this.fallbackReason = native.fallbackReason === "" ? null : native.fallbackReason;
    this.dimensions = native.dimensions;
    this.flip = flip;
    const [c, h, w] = native.inputShape;
    this.#inputValues = c * h * w;
  }

  embed(input: ImageInput, options?: EmbedOptions): Promise<Float32Array> {
    return this.#call(callSite(EmbedderImpl.prototype.embed), () => this.#embed(input, options));
  }

  embedBatch(inputs: ReadonlyArray<BatchItem>, options?: EmbedBatchOptions): Promise<Float32Array[]> {
    return this.#call(callSite(EmbedderImpl.prototype.embedBatch), () => this.#embedBatch(inputs, options));
  }

  verify(a: ImageInput | Float32Array, b: ImageInput | Float32Array, options?: VerifyOptions): Promise<VerifyResult> {
    return this.#call(callSite(EmbedderImpl.prototype.verify), () => this.#verify(a, b, options));
  }

  preprocess(input: ImageInput, options?: PreprocessOptions): Promise<Float32Array> {
    return this.#call(callSite(EmbedderImpl.prototype.preprocess), () => this.#preprocess(input, options));
  }

  lastTimings(): StageTimings {
    if (this.#disposed) throw atCallSite(disposedError(), callSite(EmbedderImpl.prototype.lastTimings));
    return this.#native.lastTimings();
  }

  dispose(): Promise<void> {
    this.#disposed = true;
    // The native dispose is idempotent and returns the same promise each time.
    return this.#native.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** Runs one public call: rejects at once after dispose(), rethrows failures with the caller's stack. */
  #call<T>(site: { stack?: string }, run: () => Promise<T>): Promise<T> {
    if (this.#disposed) return Promise.reject(atCallSite(disposedError(), site));
    return run().catch((error: unknown) => {
      throw atCallSite(error, site);
    });
  }

  async #embed(input: unknown, options: unknown): Promise<Float32Array> {
    const opts = checkOptions<EmbedOptions>(options, "options", ["flip", "landmarks", "signal"]);
    const flip = checkBoolean(opts.flip, "options.flip", this.flip);
    const landmarks = toNativeLandmarks(opts.landmarks, "options.landmarks");
    const signal = checkSignal(opts.signal, "options.signal");
    this.#checkAborted(signal);
    const image = await toNativeImage(input, "input", landmarks);
    this.#checkAborted(signal);
    const out = new Float32Array(this.dimensions);
    await abortable(signal, (cancel) => this.#native.embed([image], flip, out, cancel));
    return out;
  }

  async #embedBatch(inputs: unknown, options: unknown): Promise<Float32Array[]> {
    if (!Array.isArray(inputs)) throw invalidParameter("inputs", "an array of images", inputs);
    const opts = checkOptions<EmbedBatchOptions>(options, "options", ["flip", "signal"]);
    const flip = checkBoolean(opts.flip, "options.flip", this.flip);
    const signal = checkSignal(opts.signal, "options.signal");
    this.#checkAborted(signal);
    const images = await Promise.all(inputs.map((item: unknown, i: number) => this.#batchItem(item, i)));
    this.#checkAborted(signal);
    const d = this.dimensions;
    const out = new Float32Array(images.length * d);
    await abortable(signal, (cancel) => this.#native.embed(images, flip, out, cancel));
    return images.map((_, i) => out.slice(i * d, (i + 1) * d));
  }

  async #verify(a: unknown, b: unknown, options: unknown): Promise<VerifyResult> {
    const opts = checkOptions<VerifyOptions>(options, "options", ["threshold", "flip", "signal"]);
    const threshold = opts.threshold ?? DEFAULT_VERIFY_THRESHOLD;
    if (typeof threshold !== "number" || !(threshold >= -1 && threshold <= 1)) {
      throw invalidParameter("options.threshold", "a number between -1 and 1", threshold);
    }
    const flip = checkBoolean(opts.flip, "options.flip", this.flip);
    const signal = checkSignal(opts.signal, "options.signal");
    this.#checkAborted(signal);
    const givenA = this.#givenEmbedding(a, "a");
    const givenB = this.#givenEmbedding(b, "b");
    const images = await Promise.all([
      givenA ? undefined : toNativeImage(a, "a"),
      givenB ? undefined : toNativeImage(b, "b"),
    ]);
    this.#checkAborted(signal);
    const toEmbed = images.filter((image): image is NativeImage => image !== undefined);
    const d = this.dimensions;
    const out = new Float32Array(toEmbed.length * d);
    if (toEmbed.length > 0) await abortable(signal, (cancel) => this.#native.embed(toEmbed, flip, out, cancel));
    const ea = givenA ?? out.subarray(0, d);
    const eb = givenB ?? out.subarray(givenA ? 0 : d, givenA ? d : 2 * d);
    const similarity = cosine(ea, eb);
    return { similarity, match: similarity >= threshold, threshold };
  }

  async #preprocess(input: unknown, options: unknown): Promise<Float32Array> {
    const opts = checkOptions<PreprocessOptions>(options, "options", ["mirror", "landmarks"]);
    const mirror = checkBoolean(opts.mirror, "options.mirror", false);
    const landmarks = toNativeLandmarks(opts.landmarks, "options.landmarks");
    const image = await toNativeImage(input, "input", landmarks);
    const out = new Float32Array(this.#inputValues);
    this.#native.preprocess(image, mirror, out);
    return out;
  }

  #checkAborted(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw abortedError(signal);
  }

  #batchItem(item: unknown, i: number): Promise<NativeImage> {
    if (isBatchEntry(item)) {
      const landmarks = toNativeLandmarks(item.landmarks, `inputs[${i}].landmarks`);
      return toNativeImage(item.image, `inputs[${i}].image`, landmarks);
    }
    return toNativeImage(item, `inputs[${i}]`);
  }

  /** A Float32Array argument of verify() is an embedding; anything else is an image. */
  #givenEmbedding(value: unknown, name: string): Float32Array | undefined {
    if (!types.isFloat32Array(value)) return undefined;
    if (value.length !== this.dimensions) {
      throw invalidParameter(name, `an embedding of ${this.dimensions} values`, value);
    }
    if (!value.every(Number.isFinite) || value.every((x) => x === 0)) {
      throw new MfnError("MFN_INVALID_ARGUMENT", `Expected a finite, non-zero embedding for ${name}`);
    }
    return value;
  }
}

/** Loads the model and picks the backend. Rejects with MfnError (MFN_MODEL_INVALID, MFN_BACKEND_UNAVAILABLE, ...). */
export async function createEmbedder(options?: EmbedderOptions): Promise<Embedder> {
  const site = callSite(createEmbedder);
  try {
    const opts = checkOptions<EmbedderOptions>(options, "options",
      ["backend", "flip", "threads", "device", "model", "maxBatch", "maxDelayUs", "maxQueue"]);
    const backend = opts.backend ?? "auto";
    if (backend !== "auto" && backend !== "cpu" && backend !== "cuda") {
      throw invalidParameter("options.backend", '"auto", "cpu" or "cuda"', backend);
    }
    const flip = checkBoolean(opts.flip, "options.flip", true);
    const threads = checkInteger(opts.threads, "options.threads", 0, 4096, 0);
    const device = checkInteger(opts.device, "options.device", 0, 1024, 0);
    const maxBatch = checkInteger(opts.maxBatch, "options.maxBatch", 1, 65536, 256);
    // Absent: the binding's defaults (see maxDelayUs and maxQueue above).
    const maxDelayUs = checkOptionalInteger(opts.maxDelayUs, "options.maxDelayUs", 0, 10_000_000);
    const maxQueue = checkOptionalInteger(opts.maxQueue, "options.maxQueue", 1, 2 ** 31 - 1);
    const model = opts.model ?? join(packageRoot, "models", "mobilefacenet.onnx");
    if (typeof model !== "string" || model.length === 0) {
      throw invalidParameter("options.model", "a path to an .onnx file", model);
    }
    const native = await nativeBinding().createEngine({
      modelPath: model,
      manifestPath: join(dirname(model), "manifest.json"),
      backend, threads, device, maxBatch,
      ...(maxDelayUs === undefined ? {} : { maxDelayUs }),
      ...(maxQueue === undefined ? {} : { maxQueue }),
    });
    return new EmbedderImpl(native, flip);
  } catch (error) {
    throw atCallSite(error, site);
  }
}
