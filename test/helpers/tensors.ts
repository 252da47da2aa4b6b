// Plain-JS references and small numeric helpers for the suites: synthetic
// images, the model-input tensor computed the straightforward way, norms.

export interface TestImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3 | 4;
  order?: "rgb" | "bgr";
}

/** mulberry32: a tiny seeded generator, so that every run sees the same pixels. */
export function seeded(seed: number): () => number {
  let a = seed | 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform random pixels: every pixel differs, so any misplaced sample shows. */
export function noiseImage(width: number, height: number, channels: 3 | 4, seed: number): TestImage {
  const random = seeded(seed);
  const data = new Uint8Array(width * height * channels);
  for (let i = 0; i < data.length; i++) data[i] = Math.floor(random() * 256);
  return { data, width, height, channels, order: "rgb" };
}

/** A smooth image (gradients and slow waves): bilinear sampling is well conditioned on it. */
export function smoothImage(width: number, height: number): TestImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      data[i] = Math.round(127.5 + 120 * Math.sin(x / 17 + y / 29));
      data[i + 1] = Math.round((255 * x) / (width - 1));
      data[i + 2] = Math.round(127.5 + 120 * Math.cos(y / 13 - x / 41));
    }
  }
  return { data, width, height, channels: 3, order: "rgb" };
}

/** The same pixels with R and B swapped, labelled "bgr". */
export function toBgr(image: TestImage): TestImage {
  const data = image.data.slice();
  for (let i = 0; i < data.length; i += image.channels) {
    data[i] = image.data[i + 2]!;
    data[i + 2] = image.data[i]!;
  }
  return { ...image, data, order: "bgr" };
}

/** dst -> src sampling transform, as in mfn_image: src = [t0 t1 t2; t3 t4 t5] * [x y 1]. */
export type Transform = [number, number, number, number, number, number];

/** Resize with aligned pixel centres: src = (dst + 0.5) * src / dst - 0.5. */
export function resizeTransform(srcW: number, srcH: number, dstW: number, dstH: number): Transform {
  const sx = srcW / dstW;
  const sy = srcH / dstH;
  return [sx, 0, 0.5 * sx - 0.5, 0, sy, 0.5 * sy - 0.5];
}

/**
 * The model input the manifest asks for (112x112, BGR, (p - 127.5) / 127.5),
 * NCHW, sampled through `t` with bilinear interpolation; `border` says what
 * lies outside the image (clamp to the edge, or pixel value 0 per tap).
 */
export function referenceTensor(image: TestImage, t: Transform, options: { mirror?: boolean; border?: "clamp" | "zero" } = {}): Float32Array {
  const size = 112;
  const { width, height, channels } = image;
  const border = options.border ?? "clamp";
  const rgbOffset = image.order === "bgr" ? [2, 1, 0] : [0, 1, 2];
  const modelFromRgb = [2, 1, 0]; // model channel k (B, G, R) takes RGB channel modelFromRgb[k]
  const tap = (x: number, y: number, c: number): number => {
    if (border === "zero" && (x < 0 || y < 0 || x >= width || y >= height)) return 0;
    const cx = Math.min(Math.max(x, 0), width - 1);
    const cy = Math.min(Math.max(y, 0), height - 1);
    return image.data[(cy * width + cx) * channels + c]!;
  };
  const out = new Float32Array(3 * size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const dx = options.mirror ? size - 1 - x : x;
      const sx = t[0] * dx + t[1] * y + t[2];
      const sy = t[3] * dx + t[4] * y + t[5];
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      for (let k = 0; k < 3; k++) {
        const c = rgbOffset[modelFromRgb[k]!]!;
        const top = tap(x0, y0, c) * (1 - fx) + tap(x0 + 1, y0, c) * fx;
        const bottom = tap(x0, y0 + 1, c) * (1 - fx) + tap(x0 + 1, y0 + 1, c) * fx;
        const p = top * (1 - fy) + bottom * fy;
        out[(k * size + y) * size + x] = (p - 127.5) / 127.5;
      }
    }
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function norm(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}

export function normalise(a: ArrayLike<number>): Float32Array {
  const n = norm(a);
  return Float32Array.from(a, (v) => v / n);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i]! * b[i]!;
  return dot / (norm(a) * norm(b));
}

/** Columns of each 112x112 plane reversed. */
export function flipColumns(tensor: Float32Array, size = 112): Float32Array {
  const out = new Float32Array(tensor.length);
  for (let row = 0; row < tensor.length / size; row++) {
    for (let x = 0; x < size; x++) out[row * size + x] = tensor[row * size + size - 1 - x]!;
  }
  return out;
}
