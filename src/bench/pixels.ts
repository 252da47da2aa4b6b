// The images every configuration embeds, prepared once by the parent before
// any child starts and read back by each child: raw RGB pixels (synthetic
// noise, or a folder of face images decoded with sharp), plus, for the
// onnxruntime-node peer, the model-input tensors of those images and of
// their mirrors, made by mfn's own preprocessing. Decoding and tensor
// preparation are never timed.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, extname, join, relative } from "node:path";

const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp"]);
// Enough distinct images that a batch of 64 holds no repeats; more would
// only slow down decoding.
const MAX_FOLDER_IMAGES = 64;
const SYNTHETIC_COUNT = 64;

// The parts of models/manifest.json the benchmark needs.
export interface ModelManifest {
  input: string;           // graph input name (the peer's feed)
  output: string;          // graph output name
  layout: string;
  height: number;
  width: number;
  embeddingSize: number;
}

interface ImageEntry {
  name: string;
  width: number;
  height: number;
  offset: number;  // into pixels.bin, bytes
}

interface PixelIndex {
  description: string;
  images: ImageEntry[];
  // Model-input tensors (NCHW float32), image k at 2k and its mirror at
  // 2k+1, in tensors.bin; absent unless the peer runs.
  tensors: { floatsPerImage: number } | null;
}

export interface PixelSet {
  indexPath: string;
  description: string;
  count: number;
  dispose(): void;
}

export interface RawImage {
  data: Uint8Array;
  width: number;
  height: number;
  channels: 3;
  order: "rgb";
}

export interface LoadedPixels {
  images: RawImage[];
  // tensor(k, mirrored): one image's model input, a view into one buffer.
  tensor: ((k: number, mirrored: boolean) => Float32Array) | null;
  floatsPerImage: number;
}

export function readManifest(modelPath: string): ModelManifest {
  const path = join(dirname(modelPath), "manifest.json");
  let parsed: ModelManifest;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as ModelManifest;
  } catch (err) {
    throw new Error(`cannot read the model manifest ${path}: ${(err as Error).message}`);
  }
  if (parsed.layout !== "NCHW" || !(parsed.width > 0) || !(parsed.height > 0) || !(parsed.embeddingSize > 0) ||
      typeof parsed.input !== "string" || typeof parsed.output !== "string") {
    throw new Error(`${path}: expected an NCHW model with input, output, width, height and embeddingSize`);
  }
  return parsed;
}

// mulberry32: a tiny seeded generator, so that every run embeds the same noise.
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** JPEG/PNG/WebP files under `dir`, searched recursively in name order; at most `limit`. */
export function listImages(dir: string, limit = Infinity): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      if (out.length >= limit) return;
      const full = join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (IMAGE_EXTENSIONS.has(extname(entry.name).toLowerCase())) out.push(full);
    }
  };
  walk(dir);
  return out;
}

// The model inputs of every image and its mirror, made by mfn's own
// preprocessing (embedder.preprocess) so that the peer sees exactly the
// values mfn's backend sees. Runs once in the parent, before any timing.
async function modelInputs(images: RawImage[], model: string): Promise<Float32Array[]> {
  const { createEmbedder } = await import("../index.js");
  const embedder = await createEmbedder({ backend: "cpu", threads: 1, model });
  try {
    const out: Float32Array[] = [];
    for (const image of images) {
      out.push(await embedder.preprocess(image), await embedder.preprocess(image, { mirror: true }));
    }
    return out;
  } finally {
    await embedder.dispose();
  }
}

function rawImage(data: Uint8Array, width: number, height: number): RawImage {
  return { data, width, height, channels: 3, order: "rgb" };
}

// Prepares the pixel set in a fresh temporary folder; with `tensorsFor`
// (the model path) also the peer's model-input tensors.
export async function preparePixels(inputDir: string | undefined, modelSize: { width: number; height: number }, tensorsFor: string | null): Promise<PixelSet> {
  const images: (RawImage & { name: string })[] = [];
  let description: string;
  if (inputDir === undefined) {
    const rand = random(0x6d666e);
    for (let k = 0; k < SYNTHETIC_COUNT; k++) {
      const data = new Uint8Array(modelSize.width * modelSize.height * 3);
      for (let i = 0; i < data.length; i++) data[i] = Math.floor(rand() * 256);
      images.push({ name: `synthetic-${k}`, ...rawImage(data, modelSize.width, modelSize.height) });
    }
    description = `synthetic pixels: ${SYNTHETIC_COUNT} images of seeded noise, ${modelSize.width}x${modelSize.height} RGB (the model's size: no resize; speed does not depend on content)`;
  } else {
    const files = listImages(inputDir);
    if (files.length === 0) throw new Error(`no .jpg, .jpeg, .png or .webp images in ${inputDir}`);
    const chosen = files.slice(0, MAX_FOLDER_IMAGES);
    const { default: sharp } = await import("sharp");
    for (const file of chosen) {
      let decoded: { data: Buffer; info: { width: number; height: number } };
      try {
        decoded = await sharp(file).removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
      } catch (err) {
        throw new Error(`cannot decode ${file}: ${(err as Error).message}`);
      }
      images.push({ name: relative(inputDir, file), ...rawImage(decoded.data, decoded.info.width, decoded.info.height) });
    }
    const sizes = [...new Set(images.map((i) => `${i.width}x${i.height}`))];
    description = `${images.length} of ${files.length} images from ${inputDir} (path order), decoded up front to RGB pixels, ${sizes.slice(0, 3).join(", ")}${sizes.length > 3 ? ", ..." : ""}`;
  }

  const dir = mkdtempSync(join(tmpdir(), "mfn-bench-"));
  try {
    let offset = 0;
    const entries: ImageEntry[] = images.map((img) => {
      const entry = { name: img.name, width: img.width, height: img.height, offset };
      offset += img.data.length;
      return entry;
    });
    writeFileSync(join(dir, "pixels.bin"), Buffer.concat(images.map((i) => i.data)));
    let tensors: PixelIndex["tensors"] = null;
    if (tensorsFor !== null) {
      const inputs = await modelInputs(images, tensorsFor);
      writeFileSync(join(dir, "tensors.bin"), Buffer.concat(inputs.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength))));
      tensors = { floatsPerImage: inputs[0].length };
    }
    const index: PixelIndex = { description, images: entries, tensors };
    const indexPath = join(dir, "index.json");
    writeFileSync(indexPath, JSON.stringify(index));
    return { indexPath, description, count: images.length, dispose: () => rmSync(dir, { recursive: true, force: true }) };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

// In a child: the pixel set as raw-pixel inputs for mfn and tensors for the peer.
export function loadPixels(indexPath: string): LoadedPixels {
  const index = JSON.parse(readFileSync(indexPath, "utf8")) as PixelIndex;
  const dir = dirname(indexPath);
  const bytes = readFileSync(join(dir, "pixels.bin"));
  const images: RawImage[] = index.images.map((e) => ({
    data: bytes.subarray(e.offset, e.offset + e.width * e.height * 3),
    width: e.width,
    height: e.height,
    channels: 3,
    order: "rgb",
  }));
  let tensor: LoadedPixels["tensor"] = null;
  const floatsPerImage = index.tensors?.floatsPerImage ?? 0;
  if (index.tensors !== null) {
    const raw = readFileSync(join(dir, "tensors.bin"));
    // A Float32Array view needs a 4-byte aligned offset; copy when it is not.
    const aligned = raw.byteOffset % 4 === 0 ? raw : Buffer.from(raw);
    const all = new Float32Array(aligned.buffer, aligned.byteOffset, aligned.byteLength / 4);
    tensor = (k, mirrored) => {
      const start = (2 * (k % images.length) + (mirrored ? 1 : 0)) * floatsPerImage;
      return all.subarray(start, start + floatsPerImage);
    };
  }
  return { images, tensor, floatsPerImage };
}
