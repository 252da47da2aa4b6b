// createEmbedder() and the Embedder: option checks, input decoding, and the
// calls into the native engine. Every public method records its caller's
// stack first, so that errors point at user code.

import { dirname, join } from "node:path";
import { types } from "node:util";

import { DEFAULT_VERIFY_THRESHOLD } from "./calibration.js";
import { MfnError, abortedError, atCallSite, callSite, invalidParameter } from "./errors.js";
import { checkInteger, checkOptions, checkSignal } from "./options.js";
import type { Gallery, GalleryMatch } from "./gallery.js";
import { type DetectOptions, type EmbedFacesOptions, type Face, type FaceWithEmbedding, checkDetectOptions, toFaces,
  toFacesWithEmbeddings } from "./faces.js";
import { type CallCopies, type CheckedImage, type ImageInput, type Landmarks, checkImage, toNativeImages,
         toNativeLandmarks } from "./inputs.js";
import {
  type NativeBatchStats, type NativeCancelToken, type NativeEngine, type NativeImage, nativeBinding, packageRoot,
} from "./native.js";

/** The most CPU threads an embedder uses (mfn::kMaxThreads in the engine): more is refused. */
export const MAX_THREADS = 256;

export type BackendName = "cpu" | "cuda";

export interface EmbedderOptions {
  /** "auto" (default): CUDA when a usable GPU and the plugin are present, else CPU. */
  backend?: "auto" | "cpu" | "cuda";
  /** Add the embedding of the mirrored face (default true). */
  flip?: boolean;
  /** CPU threads, 0 to MAX_THREADS (256); 0 or absent = all cores, at most MAX_THREADS. */
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
   * arrive while a batch runs form the next one whatever this delay. Face
   * calls (detect, embedFaces) wait the same way twice: their photos for a
   * shared detector run (up to 16 photos), then embedFaces' faces for an
   * embedding batch shared with embed calls.
   */
  maxDelayUs?: number;
  /**
   * Images waiting in the batching queue at which a call rejects at once with
   * MFN_QUEUE_FULL (default 4 * maxBatch). While fewer wait, a call of any
   * size is admitted, so large batches are never starved by small calls.
   * Photos waiting for the detector are bounded the same way, apart.
   */
  maxQueue?: number;
  /**
   * The face detector for detect/embedFaces: a path to a detector .onnx with
   * detector.json beside it, or false for none (detect/embedFaces then throw
   * MFN_MODEL_UNSUPPORTED). Default: the bundled BlazeFace.
   */
  detector?: string | false;
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

export interface IdentifyOptions extends EmbedFacesOptions {
  /** Matches per face, 1 to 1000 (default 10). */
  k?: number;
  /** Matches below this cosine similarity are left out (default: none). */
  minSimilarity?: number;
}

export type IdentifiedFace = FaceWithEmbedding & { matches: GalleryMatch[] };

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

/** Counters of the embedder's batching queue since it was created (read-only). */
export type BatchStats = NativeBatchStats;

export interface Embedder {
  /** The backend that runs the model. */
  readonly backend: BackendName;
  /** Why the backend is not CUDA (GPU, driver or plugin missing); null when nothing fell back. */
  readonly fallbackReason: string | null;
  /** The backend that runs the face detector; null when created with `detector: false`. */
  readonly detectorBackend: BackendName | null;
  /** Why the detector is not on CUDA although the embeddings are; null otherwise. */
  readonly detectorFallbackReason: string | null;
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
  /** Faces in a photo (any size), highest score first; no face is an empty array. */
  detect(input: ImageInput, options?: DetectOptions): Promise<Face[]>;
  /** detect, then every face aligned on its landmarks and embedded (flip as set), in one engine call. */
  embedFaces(input: ImageInput, options?: EmbedFacesOptions): Promise<FaceWithEmbedding[]>;
  /**
   * embedFaces, then each face searched in `gallery` (one searchBatch for all
   * faces): the faces highest score first, each with its top-k matches.
   */
  identify(input: ImageInput, gallery: Gallery, options?: IdentifyOptions): Promise<IdentifiedFace[]>;
  lastTimings(): StageTimings;
  /** Batches the queue formed so far: images / batches is the mean batch size. */
  batchStats(): BatchStats;
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

function checkBoolean(value: unknown, name: string, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw invalidParameter(name, "a boolean", value);
  return value;
}

function checkOptionalInteger(value: unknown, name: string, min: number, max: number): number | undefined {
  return value === undefined ? undefined : checkInteger(value, name, min, max, 0);
}

function disposedError(): MfnError {
  return new MfnError("MFN_DISPOSED", "This embedder has been disposed");
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
  readonly detectorBackend: BackendName | null;
  readonly detectorFallbackReason: string | null;
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
    this.detectorBackend = native.detectorBackend === "" ? null : native.detectorBackend;
    this.detectorFallbackReason = native.detectorFallbackReason === "" ? null : native.detectorFallbackReason;
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

  detect(input: ImageInput, options?: DetectOptions): Promise<Face[]> {
    return this.#call(callSite(EmbedderImpl.prototype.detect), async () => {
      const opts = checkOptions<DetectOptions>(options, "options", ["maxFaces", "minScore", "signal"]);
      const { maxFaces, minScore } = checkDetectOptions(opts);
      return this.#withPhoto(input, opts.signal, async (image, signal) =>
        toFaces(await abortable(signal, (cancel) => this.#native.detect(image, maxFaces, minScore, cancel))));
    });
  }

  embedFaces(input: ImageInput, options?: EmbedFacesOptions): Promise<FaceWithEmbedding[]> {
    return this.#call(callSite(EmbedderImpl.prototype.embedFaces), async () => {
      const opts = checkOptions<EmbedFacesOptions>(options, "options", ["maxFaces", "minScore", "signal", "flip"]);
      const { maxFaces, minScore } = checkDetectOptions(opts);
      const flip = checkBoolean(opts.flip, "options.flip", this.flip);
      return this.#withPhoto(input, opts.signal, async (image, signal) => {
        const native = await abortable(signal,
          (cancel) => this.#native.embedFaces(image, maxFaces, minScore, flip, cancel));
        return toFacesWithEmbeddings(native, this.dimensions);
      });
    });
  }

  identify(input: ImageInput, gallery: Gallery, options?: IdentifyOptions): Promise<IdentifiedFace[]> {
    return this.#call(callSite(EmbedderImpl.prototype.identify), async () => {
      const opts = checkOptions<IdentifyOptions>(options, "options",
        ["maxFaces", "minScore", "signal", "flip", "k", "minSimilarity"]);
      if (typeof gallery !== "object" || gallery === null || typeof gallery.searchBatch !== "function") {
        throw invalidParameter("gallery", "a Gallery (createGallery or loadGallery)", gallery);
      }
      if (gallery.dimensions !== this.dimensions) {
        throw new MfnError("MFN_DIMENSION_MISMATCH",
          `The gallery holds vectors of ${gallery.dimensions} values; this embedder's embeddings have ${this.dimensions}`);
      }
      const { k, minSimilarity, ...faceOptions } = opts;
      const faces = await this.embedFaces(input, faceOptions);
      if (faces.length === 0) return [];
      const matches = await gallery.searchBatch(faces.map((f) => f.embedding), {
        ...(k === undefined ? {} : { k }),
        ...(minSimilarity === undefined ? {} : { minSimilarity }),
        ...(opts.signal === undefined ? {} : { signal: opts.signal }),
      });
      return faces.map((face, i) => ({ ...face, matches: matches[i]! }));
    });
  }

  lastTimings(): StageTimings {
    if (this.#disposed) throw atCallSite(disposedError(), callSite(EmbedderImpl.prototype.lastTimings));
    return this.#native.lastTimings();
  }

  batchStats(): BatchStats {
    if (this.#disposed) throw atCallSite(disposedError(), callSite(EmbedderImpl.prototype.batchStats));
    return this.#native.batchStats();
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
    const copies: CallCopies = new Map();
    return this.#embedChecked([checkImage(input, "input", landmarks, copies)], copies, flip, signal);
  }

  async #embedBatch(inputs: unknown, options: unknown): Promise<Float32Array[]> {
    if (!Array.isArray(inputs)) throw invalidParameter("inputs", "an array of images", inputs);
    const opts = checkOptions<EmbedBatchOptions>(options, "options", ["flip", "signal"]);
    const flip = checkBoolean(opts.flip, "options.flip", this.flip);
    const signal = checkSignal(opts.signal, "options.signal");
    this.#checkAborted(signal);
    const copies: CallCopies = new Map();
    const checked = inputs.map((item: unknown, i: number) => this.#batchItem(item, i, copies));
    const out = await this.#embedChecked(checked, copies, flip, signal);
    const d = this.dimensions;
    return checked.map((_, i) => out.slice(i * d, (i + 1) * d));
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
    const copies: CallCopies = new Map();
    const checked: CheckedImage[] = [];
    if (givenA === undefined) checked.push(checkImage(a, "a", undefined, copies));
    if (givenB === undefined) checked.push(checkImage(b, "b", undefined, copies));
    const out = checked.length > 0 ? await this.#embedChecked(checked, copies, flip, signal) : new Float32Array(0);
    const d = this.dimensions;
    const ea = givenA ?? out.subarray(0, d);
    const eb = givenB ?? out.subarray(givenA ? 0 : d, givenA ? d : 2 * d);
    const similarity = cosine(ea, eb);
    return { similarity, match: similarity >= threshold, threshold };
  }

  async #preprocess(input: unknown, options: unknown): Promise<Float32Array> {
    const opts = checkOptions<PreprocessOptions>(options, "options", ["mirror", "landmarks"]);
    const mirror = checkBoolean(opts.mirror, "options.mirror", false);
    const landmarks = toNativeLandmarks(opts.landmarks, "options.landmarks");
    const copies: CallCopies = new Map();
    return this.#withImages([checkImage(input, "input", landmarks, copies)], copies, undefined, ([image]) => {
      const out = new Float32Array(this.#inputValues);
      this.#native.preprocess(image!, mirror, out);
      return out;
    });
  }

  /**
   * Runs `use` on the photo of a detect/embedFaces call (copied or decoded
   * as the call's inputs always are), the signal checked before and after
   * decoding.
   */
  #withPhoto<T>(input: unknown, signal: unknown,
                use: (image: NativeImage, signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
    const checked = checkSignal(signal, "options.signal");
    this.#checkAborted(checked);
    const copies: CallCopies = new Map();
    return this.#withImages([checkImage(input, "input", undefined, copies)], copies, checked,
      ([image]) => use(image!, checked));
  }

  #checkAborted(signal: AbortSignal | undefined): void {
    if (signal?.aborted) throw abortedError(signal);
  }

  /**
   * Runs `use` on the native images of checked inputs: for raw-only calls at
   * once, in the caller's tick (even an already-resolved promise would give
   * the caller a tick to change its pixels before the binding copies them);
   * for calls with encoded images once they are decoded.
   */
  #withImages<T>(checked: CheckedImage[], copies: CallCopies, signal: AbortSignal | undefined,
                 use: (images: NativeImage[]) => T | Promise<T>): Promise<T> {
    const images = toNativeImages(checked, copies);
    if (!(images instanceof Promise)) return Promise.resolve(use(images));
    return images.then((decoded) => {
      this.#checkAborted(signal);
      return use(decoded);
    });
  }

  /** Embeds checked images through the batching queue: images * dimensions floats, rows in order. */
  #embedChecked(checked: CheckedImage[], copies: CallCopies, flip: boolean,
                signal: AbortSignal | undefined): Promise<Float32Array> {
    return this.#withImages(checked, copies, signal, async (images) => {
      const out = new Float32Array(images.length * this.dimensions);
      await abortable(signal, (cancel) => this.#native.embed(images, flip, out, cancel));
      return out;
    });
  }

  #batchItem(item: unknown, i: number, copies: CallCopies): CheckedImage {
    if (isBatchEntry(item)) {
      const landmarks = toNativeLandmarks(item.landmarks, `inputs[${i}].landmarks`);
      return checkImage(item.image, `inputs[${i}].image`, landmarks, copies);
    }
    return checkImage(item, `inputs[${i}]`, undefined, copies);
  }

  /**
   * A Float32Array argument of verify() is an embedding (copied at call
   * time, through the typed-array constructor, which reads no overridable
   * property); anything else is an image.
   */
  #givenEmbedding(value: unknown, name: string): Float32Array | undefined {
    if (!types.isFloat32Array(value)) return undefined;
    const copy = new Float32Array(value);
    if (copy.length !== this.dimensions) {
      throw invalidParameter(name, `an embedding of ${this.dimensions} values`, copy);
    }
    if (!copy.every(Number.isFinite) || copy.every((x) => x === 0)) {
      throw new MfnError("MFN_INVALID_ARGUMENT", `Expected a finite, non-zero embedding for ${name}`);
    }
    return copy;
  }
}

/** Loads the model and picks the backend. Rejects with MfnError (MFN_MODEL_INVALID, MFN_BACKEND_UNAVAILABLE, ...). */
export async function createEmbedder(options?: EmbedderOptions): Promise<Embedder> {
  const site = callSite(createEmbedder);
  try {
    const opts = checkOptions<EmbedderOptions>(options, "options",
      ["backend", "flip", "threads", "device", "model", "maxBatch", "maxDelayUs", "maxQueue", "detector"]);
    const backend = opts.backend ?? "auto";
    if (backend !== "auto" && backend !== "cpu" && backend !== "cuda") {
      throw invalidParameter("options.backend", '"auto", "cpu" or "cuda"', backend);
    }
    const flip = checkBoolean(opts.flip, "options.flip", true);
    const threads = checkInteger(opts.threads, "options.threads", 0, MAX_THREADS, 0);
    const device = checkInteger(opts.device, "options.device", 0, 1024, 0);
    const maxBatch = checkInteger(opts.maxBatch, "options.maxBatch", 1, 65536, 256);
    // Absent: the binding's defaults (see maxDelayUs and maxQueue above).
    const maxDelayUs = checkOptionalInteger(opts.maxDelayUs, "options.maxDelayUs", 0, 10_000_000);
    const maxQueue = checkOptionalInteger(opts.maxQueue, "options.maxQueue", 1, 2 ** 31 - 1);
    const model = opts.model ?? join(packageRoot, "models", "mobilefacenet.onnx");
    // A NUL byte would end the C string early and name another file.
    if (typeof model !== "string" || model.length === 0 || model.includes("\0")) {
      throw invalidParameter("options.model", "a path to an .onnx file (without NUL bytes)", model);
    }
    const detector = opts.detector ?? join(packageRoot, "models", "blazeface_back_256.onnx");
    if (detector !== false && (typeof detector !== "string" || detector.length === 0)) {
      throw invalidParameter("options.detector", "a path to a detector .onnx file or false", detector);
    }
    const native = await nativeBinding().createEngine({
      modelPath: model,
      manifestPath: join(dirname(model), "manifest.json"),
      backend, threads, device, maxBatch,
      ...(maxDelayUs === undefined ? {} : { maxDelayUs }),
      ...(maxQueue === undefined ? {} : { maxQueue }),
      detectorPath: detector === false ? "" : detector,
    });
    return new EmbedderImpl(native, flip);
  } catch (error) {
    throw atCallSite(error, site);
  }
}
