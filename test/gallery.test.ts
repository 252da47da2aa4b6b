// The gallery from JavaScript: exact results against a float64 reference,
// batch = single searches, replace/remove, reduced precisions, snapshots,
// files, cancellation, the event loop staying free, and every error code.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { type Gallery, MfnError, createGallery, loadGallery } from "../src/index.js";
import { codeOf } from "./helpers/errors.js";
import { seeded } from "./helpers/tensors.js";

/** Gaussian-ish vectors (sum of uniforms), deterministic. */
function vectors(n: number, d: number, seed: number): Float32Array[] {
  const random = seeded(seed);
  return Array.from({ length: n }, () => {
    const v = new Float32Array(d);
    for (let i = 0; i < d; i++) v[i] = random() + random() + random() - 1.5;
    return v;
  });
}

const norm = (v: Float32Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

/** The rows as a float32 gallery stores them: float(x / |x|), the norm in double. */
function stored(rows: Float32Array[]): Float32Array[] {
  return rows.map((row) => Float32Array.from(row, (x) => x / norm(row)));
}

/** The float64 reference: the query q / |q| in double, dot products summed in double. */
function reference(rows: Float32Array[], query: Float32Array, k: number): { index: number; similarity: number }[] {
  const q = Array.from(query, (x) => x / norm(query));
  const scored = rows.map((stored, index) => {
    let dot = 0;
    for (let i = 0; i < q.length; i++) dot += q[i]! * stored[i]!;
    return { index, similarity: dot };
  });
  return scored.sort((a, b) => b.similarity - a.similarity || a.index - b.index).slice(0, k);
}

function throwsCode(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(MfnError);
    return (error as MfnError).code;
  }
  throw new Error("expected a throw");
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "mfn-gallery-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("float32 search", () => {
  const rows = vectors(3000, 128, 1);
  const queries = vectors(12, 128, 2);
  const unit = stored(rows);
  let gallery: Gallery;
  beforeAll(async () => {
    gallery = await createGallery({ dimensions: 128, threads: 2 });
    rows.forEach((row, i) => gallery.add(`person-${i}`, row));
  });
  afterAll(() => gallery.dispose());

  it("gives the float64 reference's ids and similarities", async () => {
    expect(gallery.size).toBe(3000);
    expect(gallery.precision).toBe("float32");
    expect(gallery.dimensions).toBe(128);
    expect(gallery.bytesPerVector).toBe(128 * 4 + 4);
    for (const query of queries) {
      const found = await gallery.search(query, { k: 10 });
      const expected = reference(unit, query, 10);
      expect(found.map((m) => m.id)).toEqual(expected.map((e) => `person-${e.index}`));
      found.forEach((m, i) => expect(Math.abs(m.similarity - expected[i]!.similarity)).toBeLessThan(1e-12));
    }
  });

  it("searchBatch equals one search per query, and accepts arrays of numbers", async () => {
    const batch = await gallery.searchBatch(queries, { k: 7 });
    expect(batch).toHaveLength(queries.length);
    for (let i = 0; i < queries.length; i++) {
      expect(await gallery.search(Array.from(queries[i]!), { k: 7 })).toEqual(batch[i]);
    }
    expect(await gallery.searchBatch([])).toEqual([]);
  });

  it("honours minSimilarity and a k larger than the gallery", async () => {
    const self = await gallery.search(rows[5]!, { k: 3, minSimilarity: 0.99 });
    expect(self).toHaveLength(1);
    expect(self[0]!.id).toBe("person-5");
    expect(self[0]!.similarity).toBeCloseTo(1, 6);
    const small = await createGallery({ dimensions: 128 });
    small.add("a", rows[0]!);
    expect(await small.search(rows[1]!, { k: 1000 })).toHaveLength(1);
    await small.dispose();
  });

  it("copies the query at the call: changing it afterwards changes nothing", async () => {
    const query = Float32Array.from(rows[9]!);
    const pending = gallery.search(query, { k: 1 });
    query.fill(0);
    expect((await pending)[0]!.id).toBe("person-9");
  });
});

describe("changes", () => {
  it("replaces an existing id, removes ids, and reports has/size", async () => {
    const g = await createGallery({ dimensions: 4 });
    g.add("x", [1, 0, 0, 0]);
    g.add("y", [0, 1, 0, 0]);
    g.add("x", [0, 0, 2, 0]);
    expect(g.size).toBe(2);
    expect((await g.search([0, 0, 1, 0], { k: 1 }))[0]).toEqual({ id: "x", similarity: 1 });
    expect(g.has("y")).toBe(true);
    expect(g.remove("y")).toBe(true);
    expect(g.remove("y")).toBe(false);
    expect(g.has("y")).toBe(false);
    expect(g.size).toBe(1);
    await g.dispose();
  });

  it("a search sees the gallery as it was when search() was called", async () => {
    const rows = vectors(20000, 256, 3);
    const g = await createGallery({ dimensions: 256, threads: 2 });
    rows.forEach((row, i) => g.add(String(i), row));
    const target = vectors(1, 256, 4)[0]!;
    const before = g.search(target, { k: 1 });
    g.add("late", target);            // added after the call, before the scan ran
    expect(g.remove("0")).toBe(true);
    const seen = await before;
    expect(seen[0]!.id).not.toBe("late");
    expect((await g.search(target, { k: 1 }))[0]!.id).toBe("late");
    await g.dispose();
  });
});

describe("reduced precisions", () => {
  it("float16 and int8 keep recall@10 >= 0.98 against float32 on random vectors", async () => {
    const rows = vectors(20000, 512, 5);
    const queries = vectors(50, 512, 6);
    const exact = await createGallery({ dimensions: 512 });
    rows.forEach((row, i) => exact.add(String(i), row));
    const truth = await exact.searchBatch(queries, { k: 10 });
    await exact.dispose();
    for (const precision of ["float16", "int8"] as const) {
      const g = await createGallery({ dimensions: 512, precision });
      rows.forEach((row, i) => g.add(String(i), row));
      expect(g.bytesPerVector).toBe(precision === "float16" ? 1028 : 516);
      const found = await g.searchBatch(queries, { k: 10 });
      let hits = 0;
      found.forEach((list, q) => {
        const ids = new Set(truth[q]!.map((m) => m.id));
        hits += list.filter((m) => ids.has(m.id)).length;
      });
      expect(hits / 500).toBeGreaterThanOrEqual(0.98);
      await g.dispose();
    }
  });
});

describe("files", () => {
  it("round-trips every precision", async () => {
    const rows = vectors(1500, 64, 7);
    for (const precision of ["float32", "float16", "int8"] as const) {
      const g = await createGallery({ dimensions: 64, precision });
      rows.forEach((row, i) => g.add(`id-${i}`, row));
      const path = join(dir, `${precision}.mfng`);
      await g.save(path);
      const back = await loadGallery(path, { threads: 1 });
      expect(back.size).toBe(1500);
      expect(back.precision).toBe(precision);
      expect(back.threads).toBe(1);
      expect(await back.searchBatch(rows.slice(0, 5))).toEqual(await g.searchBatch(rows.slice(0, 5)));
      await Promise.all([g.dispose(), back.dispose()]);
    }
  });

  it("refuses damaged, truncated and foreign files with MFN_GALLERY_FILE_INVALID", async () => {
    const g = await createGallery({ dimensions: 16 });
    vectors(100, 16, 8).forEach((row, i) => g.add(String(i), row));
    const path = join(dir, "good.mfng");
    await g.save(path);
    await g.dispose();
    const good = await readFile(path);
    const damaged = Buffer.from(good);
    damaged[damaged.length >> 1]! ^= 1;
    const bad = join(dir, "bad.mfng");
    for (const bytes of [damaged, good.subarray(0, good.length - 3), Buffer.from("not a gallery at all, sorry")]) {
      await writeFile(bad, bytes);
      expect(await codeOf(loadGallery(bad))).toBe("MFN_GALLERY_FILE_INVALID");
    }
    expect(await codeOf(loadGallery(join(dir, "missing.mfng")))).toBe("MFN_IO_ERROR");
    const g2 = await createGallery({ dimensions: 16 });
    expect(await codeOf(g2.save(join(dir, "no", "such", "dir.mfng")))).toBe("MFN_IO_ERROR");
    await g2.dispose();
  });
});

describe("off the event loop", () => {
  it("keeps the event loop running during a long batch search, and aborts", async () => {
    // One scan thread, so that the JS thread has a core of its own even on
    // a 2-core machine.
    const g = await createGallery({ dimensions: 512, threads: 1 });
    const rows = vectors(2000, 512, 9);
    for (let i = 0; i < 60000; i++) g.add(String(i), rows[i % 2000]!);
    const queries = vectors(256, 512, 10);
    let last = performance.now();
    let longestGap = 0;
    const timer = setInterval(() => {
      const now = performance.now();
      longestGap = Math.max(longestGap, now - last);
      last = now;
    }, 5);
    const t0 = performance.now();
    await g.searchBatch(queries, { k: 10 });
    const ms = performance.now() - t0;
    clearInterval(timer);
    // A scan on the JS thread would show as one gap as long as the search.
    expect(ms).toBeGreaterThan(100);
    expect(longestGap).toBeLessThan(ms / 4);

    const controller = new AbortController();
    const pending = g.searchBatch(queries, { k: 10, signal: controller.signal });
    controller.abort();
    expect(await codeOf(pending)).toBe("MFN_ABORTED");
    expect(await codeOf(g.search(queries[0]!, { signal: AbortSignal.abort() }))).toBe("MFN_ABORTED");
    await g.dispose();
  });

  it("dispose lets running searches finish, then refuses calls", async () => {
    const g = await createGallery({ dimensions: 32 });
    vectors(5000, 32, 11).forEach((row, i) => g.add(String(i), row));
    const running = g.search(vectors(1, 32, 12)[0]!, { k: 3 });
    const disposed = g.dispose();
    expect(await running).toHaveLength(3);
    await disposed;
    await g.dispose();  // idempotent
    expect(g.size).toBe(0);
    expect(throwsCode(() => g.add("a", new Float32Array(32).fill(1)))).toBe("MFN_DISPOSED");
    expect(throwsCode(() => g.remove("a"))).toBe("MFN_DISPOSED");
    expect(await codeOf(g.search(new Float32Array(32).fill(1)))).toBe("MFN_DISPOSED");
    expect(await codeOf(g.save(join(dir, "x.mfng")))).toBe("MFN_DISPOSED");
  });
});

describe("errors", () => {
  let g: Gallery;
  beforeAll(async () => {
    g = await createGallery({ dimensions: 8, precision: "int8" });
    g.add("one", [1, 2, 3, 4, 5, 6, 7, 8]);
  });
  afterAll(() => g.dispose());

  it("rejects bad options with MFN_INVALID_ARGUMENT", async () => {
    for (const options of [undefined, {}, { dimensions: 0 }, { dimensions: 1.5 }, { dimensions: 65537 },
                           { dimensions: 8, precision: "float64" }, { dimensions: 8, threads: -1 },
                           { dimensions: 8, threads: 257 },
                           { dimensions: 8, colour: "red" }]) {
      expect(await codeOf(createGallery(options as never))).toBe("MFN_INVALID_ARGUMENT");
    }
    expect(await codeOf(loadGallery(42 as never))).toBe("MFN_INVALID_ARGUMENT");
  });

  it("rejects wrong dimensions, non-finite and zero vectors, bad ids", async () => {
    expect(throwsCode(() => g.add("x", new Float32Array(7)))).toBe("MFN_DIMENSION_MISMATCH");
    expect(throwsCode(() => g.add("x", new Float32Array(8)))).toBe("MFN_INVALID_EMBEDDING");
    expect(throwsCode(() => g.add("x", [1, 2, 3, 4, 5, 6, 7, Number.NaN]))).toBe("MFN_INVALID_EMBEDDING");
    expect(throwsCode(() => g.add("x", [1, 2, 3, 4, 5, 6, 7, Infinity]))).toBe("MFN_INVALID_EMBEDDING");
    expect(throwsCode(() => g.add("", [1, 2, 3, 4, 5, 6, 7, 8]))).toBe("MFN_INVALID_ARGUMENT");
    expect(throwsCode(() => g.add("x".repeat(1025), [1, 2, 3, 4, 5, 6, 7, 8]))).toBe("MFN_INVALID_ARGUMENT");
    expect(throwsCode(() => g.add(7 as never, [1, 2, 3, 4, 5, 6, 7, 8]))).toBe("MFN_INVALID_ARGUMENT");
    expect(throwsCode(() => g.add("x", new Float64Array(8) as never))).toBe("MFN_INVALID_ARGUMENT");
    expect(g.size).toBe(1);
    expect(await codeOf(g.search(new Float32Array(9)))).toBe("MFN_DIMENSION_MISMATCH");
    expect(await codeOf(g.search(new Float32Array(8)))).toBe("MFN_INVALID_EMBEDDING");
    expect(await codeOf(g.searchBatch([[1, 2, 3, 4, 5, 6, 7, 8], [1]]))).toBe("MFN_DIMENSION_MISMATCH");
  });

  it("rejects bad k, minSimilarity and options with MFN_INVALID_ARGUMENT", async () => {
    const q = [1, 2, 3, 4, 5, 6, 7, 8];
    for (const options of [{ k: 0 }, { k: 1001 }, { k: 2.5 }, { minSimilarity: 2 }, { minSimilarity: Number.NaN },
                           { signal: "stop" }, { kk: 3 }]) {
      expect(await codeOf(g.search(q, options as never))).toBe("MFN_INVALID_ARGUMENT");
    }
    expect(await codeOf(g.searchBatch(q as never))).toBe("MFN_INVALID_ARGUMENT");
    expect(await codeOf(g.searchBatch(Array.from({ length: 10001 }, () => q)))).toBe("MFN_INVALID_ARGUMENT");
  });
});
