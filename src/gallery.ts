// createGallery(), loadGallery() and the Gallery: exact 1:N search over
// enrolled embeddings, run by the engine (cpp/gallery) on its own threads.
// This file checks arguments and shapes results; the binding translates.

import { types } from "node:util";

import { MAX_THREADS, abortable } from "./embedder.js";
import { checkInteger, checkOptions, checkSignal } from "./options.js";
import { MfnError, abortedError, atCallSite, callSite, invalidParameter } from "./errors.js";
import { type NativeGallery, nativeBinding } from "./native.js";

/** How enrolled vectors are stored: 4, 2 or 1 byte per value. */
export type GalleryPrecision = "float32" | "float16" | "int8";

export interface GalleryOptions {
  /** Values per embedding (512 for MobileFaceNet), 1 to 65536. */
  dimensions: number;
  /** Default "float32" (exact). */
  precision?: GalleryPrecision;
  /** Scan threads; 0 or absent = all cores. */
  threads?: number;
}

export interface LoadGalleryOptions {
  /** Scan threads; 0 or absent = all cores. */
  threads?: number;
}

export interface GalleryMatch {
  id: string;
  /** Cosine similarity, in [-1, 1]. */
  similarity: number;
}

export interface GallerySearchOptions {
  /** Matches per query, 1 to 1000 (default 10). */
  k?: number;
  /** Matches below this similarity are left out (default -1: none). */
  minSimilarity?: number;
  /** Aborting rejects with MFN_ABORTED and stops the scan at its next block of rows. */
  signal?: AbortSignal;
}

export type Embedding = Float32Array | ReadonlyArray<number>;

export interface Gallery {
  readonly dimensions: number;
  readonly precision: GalleryPrecision;
  /** Enrolled ids (0 after dispose()). */
  readonly size: number;
  readonly threads: number;
  /** Bytes stored per vector (row and scale), without its id. */
  readonly bytesPerVector: number;
  /**
   * Enrolls `id` (replacing its vector if it has one). The embedding is
   * normalised to unit length, then stored in the gallery's precision.
   * Synchronous; never waits for a running search.
   */
  add(id: string, embedding: Embedding): void;
  /** True when `id` was enrolled (and is now gone). */
  remove(id: string): boolean;
  has(id: string): boolean;
  /** The k enrolled vectors most similar to `query`, highest first. */
  search(query: Embedding, options?: GallerySearchOptions): Promise<GalleryMatch[]>;
  /** search() for many queries in one pass over the gallery (at most 10000 queries, queries * k <= 2^20). */
  searchBatch(queries: ReadonlyArray<Embedding>, options?: GallerySearchOptions): Promise<GalleryMatch[][]>;
  /** Writes a versioned, checksummed file atomically (the old file survives a crash mid-save). */
  save(path: string): Promise<void>;
  /**
   * Frees the gallery: later calls throw MFN_DISPOSED; searches and saves
   * already running finish. Resolves once they have. Idempotent.
   */
  dispose(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

function checkPrecision(value: unknown): GalleryPrecision {
  if (value === undefined) return "float32";
  if (value !== "float32" && value !== "float16" && value !== "int8") {
    throw invalidParameter("options.precision", '"float32", "float16" or "int8"', value);
  }
  return value;
}

function checkId(value: unknown): string {
  if (typeof value !== "string" || value.length === 0) throw invalidParameter("id", "a non-empty string", value);
  return value;
}

function checkPath(value: unknown): string {
  if (typeof value !== "string" || value.length === 0) throw invalidParameter("path", "a file path", value);
  return value;
}

class GalleryImpl implements Gallery {
  readonly dimensions: number;
  readonly precision: GalleryPrecision;
  readonly threads: number;
  readonly bytesPerVector: number;
  readonly #native: NativeGallery;

  constructor(native: NativeGallery) {
    this.#native = native;
    this.dimensions = native.dimensions;
    this.precision = native.precision;
    this.threads = native.threads;
    this.bytesPerVector = native.bytesPerVector;
  }

  get size(): number {
    return this.#native.size;
  }

  add(id: string, embedding: Embedding): void {
    this.#now(GalleryImpl.prototype.add, () => this.#native.add(checkId(id), this.#vector(embedding, "embedding")));
  }

  remove(id: string): boolean {
    return this.#now(GalleryImpl.prototype.remove, () => this.#native.remove(checkId(id)));
  }

  has(id: string): boolean {
    return this.#now(GalleryImpl.prototype.has, () => this.#native.has(checkId(id)));
  }

  search(query: Embedding, options?: GallerySearchOptions): Promise<GalleryMatch[]> {
    const site = callSite(GalleryImpl.prototype.search);
    return this.#search([query], options, "query").then((lists) => lists[0]!, (error: unknown) => {
      throw atCallSite(error, site);
    });
  }

  searchBatch(queries: ReadonlyArray<Embedding>, options?: GallerySearchOptions): Promise<GalleryMatch[][]> {
    const site = callSite(GalleryImpl.prototype.searchBatch);
    return this.#search(queries, options, "queries").catch((error: unknown) => {
      throw atCallSite(error, site);
    });
  }

  save(path: string): Promise<void> {
    const site = callSite(GalleryImpl.prototype.save);
    return Promise.resolve()
      .then(() => this.#native.save(checkPath(path)))
      .catch((error: unknown) => {
        throw atCallSite(error, site);
      });
  }

  dispose(): Promise<void> {
    return this.#native.dispose();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.dispose();
  }

  /** Runs a synchronous public method; errors get the stack of its caller. */
  #now<T>(method: Function, run: () => T): T {
    const site = callSite(method);
    try {
      return run();
    } catch (error) {
      throw atCallSite(error, site);
    }
  }

  async #search(queries: unknown, options: unknown, name: string): Promise<GalleryMatch[][]> {
    if (!Array.isArray(queries)) throw invalidParameter(name, "an array of embeddings", queries);
    const opts = checkOptions<GallerySearchOptions>(options, "options", ["k", "minSimilarity", "signal"]);
    const k = checkInteger(opts.k, "options.k", 1, 1000, 10);
    const minSimilarity = opts.minSimilarity ?? -1;
    if (typeof minSimilarity !== "number" || !(minSimilarity >= -1 && minSimilarity <= 1)) {
      throw invalidParameter("options.minSimilarity", "a number between -1 and 1", minSimilarity);
    }
    const signal = checkSignal(opts.signal, "options.signal");
    if (signal?.aborted) throw abortedError(signal);
    if (this.#native.disposed) throw new MfnError("MFN_DISPOSED", "This gallery has been disposed");
    if (queries.length === 0) return [];
    const d = this.dimensions;
    const packed = new Float32Array(queries.length * d);
    queries.forEach((q: unknown, i: number) => {
      packed.set(this.#vector(q, name === "query" ? name : `queries[${i}]`), i * d);
    });
    return abortable(signal, (cancel) => this.#native.search(packed, k, minSimilarity, cancel));
  }

  /** A Float32Array of `dimensions` values (arrays of numbers are converted). */
  #vector(value: unknown, name: string): Float32Array {
    const isArray = Array.isArray(value);
    if (!types.isFloat32Array(value) && !isArray) {
      throw invalidParameter(name, "a Float32Array or an array of numbers", value);
    }
    const vector = isArray ? Float32Array.from(value as number[]) : (value as Float32Array);
    if (vector.length !== this.dimensions) {
      throw new MfnError("MFN_DIMENSION_MISMATCH",
        `Expected ${this.dimensions} values for ${name} but received ${vector.length}`);
    }
    return vector;
  }
}

/** An empty gallery. Rejects with MFN_INVALID_ARGUMENT for bad options. */
export async function createGallery(options: GalleryOptions): Promise<Gallery> {
  const site = callSite(createGallery);
  try {
    const opts = checkOptions<GalleryOptions>(options, "options", ["dimensions", "precision", "threads"]);
    if (opts.dimensions === undefined) {
      throw invalidParameter("options.dimensions", "an integer between 1 and 65536", undefined);
    }
    const dimensions = checkInteger(opts.dimensions, "options.dimensions", 1, 65536, 0);
    const precision = checkPrecision(opts.precision);
    const threads = checkInteger(opts.threads, "options.threads", 0, MAX_THREADS, 0);
    return new GalleryImpl(nativeBinding().createGallery({ dimensions, precision, threads }));
  } catch (error) {
    throw atCallSite(error, site);
  }
}

/**
 * A gallery saved by Gallery.save(). Rejects with MFN_GALLERY_FILE_INVALID
 * (not a gallery file, another version, truncated, damaged) or MFN_IO_ERROR
 * (cannot be read).
 */
export async function loadGallery(path: string, options?: LoadGalleryOptions): Promise<Gallery> {
  const site = callSite(loadGallery);
  try {
    const opts = checkOptions<LoadGalleryOptions>(options, "options", ["threads"]);
    const threads = checkInteger(opts.threads, "options.threads", 0, MAX_THREADS, 0);
    return new GalleryImpl(await nativeBinding().loadGallery(checkPath(path), threads));
  } catch (error) {
    throw atCallSite(error, site);
  }
}
