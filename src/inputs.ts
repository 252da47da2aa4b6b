// Caller inputs -> the binding's NativeImage: validation with typed errors,
// and decoding of encoded images (JPEG, PNG or WebP only) with sharp.
//
// Input lifetime: a call embeds its inputs as they were when it was made.
// Everything a caller passes is read synchronously, inside the call: the
// bytes of an encoded image are copied before sharp sees them (sharp decodes
// on another thread, while the caller may already reuse, shrink or transfer
// its buffer); raw pixels go to the binding, which copies them, before
// anything is awaited; when a call must first await a decode, its raw images
// are copied here at once instead. Typed arrays are read through the
// built-in accessors, never through properties a subclass could override.

import { types } from "node:util";
import sharp, { type OutputInfo } from "sharp";

import { MfnError, describe, invalidParameter } from "./errors.js";
import type { NativeImage } from "./native.js";

/**
 * Most pixels (width x height) an image may have, raw or decoded: 2^25, 32
 * megapixels. Larger images reject with MFN_INVALID_DIMENSIONS before
 * anything is allocated (binding/image_args.h applies the same bound).
 */
export const MAX_PIXELS = 2 ** 25;

// The built-in byteLength getter of typed arrays, taken once at load.
const typedArrayByteLength = Object.getOwnPropertyDescriptor(
  Object.getPrototypeOf(Uint8Array.prototype) as object, "byteLength")!.get!;
const byteLengthOf = (view: ArrayBufferView): number => Reflect.apply(typedArrayByteLength, view, []) as number;

/** A private copy of a Uint8Array's bytes (any backing buffer, shared included). */
function snapshot(view: Uint8Array | Uint8ClampedArray): Uint8Array {
  const copy = new Uint8Array(byteLengthOf(view));
  copy.set(view); // from a typed array, set() reads its internal slots only
  return copy;
}

/** Decoded pixels, HWC, rows tightly packed. */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  /** 4: the last channel is alpha and is ignored. */
  channels: 3 | 4;
  /** Channel order of the pixels; default "rgb". */
  order?: "rgb" | "bgr";
}

/** An encoded image (JPEG, PNG or WebP; a Buffer is a Uint8Array) or raw pixels. */
export type ImageInput = Uint8Array | RawImage;

/**
 * Five facial landmarks in source-image pixels (0-based pixel centres):
 * left eye, right eye, nose tip, left mouth corner, right mouth corner.
 */
export type Landmarks = ReadonlyArray<readonly [number, number]>;

const LANDMARK_COUNT = 5;

/** Validates landmarks; undefined stays undefined. */
export function toNativeLandmarks(value: unknown, name: string): Float32Array | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value)) throw invalidParameter(name, "an array of 5 [x, y] points", value);
  if (value.length !== LANDMARK_COUNT) {
    throw invalidParameter(name, "5 [x, y] points", value, "MFN_INVALID_LANDMARKS");
  }
  const out = new Float32Array(LANDMARK_COUNT * 2);
  value.forEach((point: unknown, i: number) => {
    if (!Array.isArray(point) || point.length !== 2) {
      throw invalidParameter(`${name}[${i}]`, "an [x, y] pair", point, "MFN_INVALID_LANDMARKS");
    }
    for (let k = 0; k < 2; k++) {
      const coordinate: unknown = point[k];
      if (typeof coordinate !== "number" || !Number.isFinite(coordinate)) {
        throw invalidParameter(`${name}[${i}][${k}]`, "a finite number", coordinate, "MFN_INVALID_LANDMARKS");
      }
      out[i * 2 + k] = coordinate;
    }
  });
  return out;
}

function checkSide(value: unknown, name: string): number {
  if (typeof value !== "number") throw invalidParameter(name, "a positive integer", value);
  if (!Number.isInteger(value) || value < 1) {
    throw invalidParameter(name, "a positive integer", value, "MFN_INVALID_DIMENSIONS");
  }
  return value;
}

function rawToNative(image: Partial<RawImage>, name: string): NativeImage {
  // Each property is read once: getters run here, and what they returned is what is checked and used.
  const { data, channels } = image;
  const order = image.order ?? "rgb";
  if (!types.isUint8Array(data) && !types.isUint8ClampedArray(data)) {
    throw invalidParameter(`${name}.data`, "a Uint8Array or Uint8ClampedArray", data);
  }
  const width = checkSide(image.width, `${name}.width`);
  const height = checkSide(image.height, `${name}.height`);
  if (typeof channels !== "number") throw invalidParameter(`${name}.channels`, "3 or 4", channels);
  if (channels !== 3 && channels !== 4) {
    throw invalidParameter(`${name}.channels`, "3 or 4", channels, "MFN_INVALID_CHANNELS");
  }
  if (order !== "rgb" && order !== "bgr") throw invalidParameter(`${name}.order`, '"rgb" or "bgr"', order);
  if (width * height > MAX_PIXELS) {
    throw new MfnError("MFN_INVALID_DIMENSIONS",
      `Expected at most ${MAX_PIXELS} pixels for ${name} but received a ${width}x${height} image`);
  }
  const needed = width * height * channels;
  const available = byteLengthOf(data);
  if (available < needed) {
    throw new MfnError("MFN_INVALID_DIMENSIONS",
      `Expected at least ${needed} bytes of pixel data for a ${width}x${height}x${channels} ${name} ` +
      `but received ${available}`);
  }
  return { data, width, height, channels, order };
}

/** The formats accepted (the README lists them), recognised by their signatures. */
function encodedFormat(bytes: Uint8Array): "jpeg" | "png" | "webp" | undefined {
  const at = (offset: number, signature: number[]) => signature.every((byte, i) => bytes[offset + i] === byte);
  if (at(0, [0xff, 0xd8, 0xff])) return "jpeg";
  if (at(0, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return "png";
  if (at(0, [0x52, 0x49, 0x46, 0x46]) && at(8, [0x57, 0x45, 0x42, 0x50])) return "webp"; // RIFF....WEBP
  return undefined;
}

/** An encoded image checked and copied at call time, to decode later. */
interface Encoded {
  bytes: Uint8Array;   // private copy
  name: string;
  landmarks?: Float32Array;
}

/**
 * The copies one call has made, by the caller's array: a call that names the
 * same buffer many times copies (and decodes) it once, so that repetition
 * cannot multiply the memory a call takes.
 */
export type CallCopies = Map<ArrayBufferView, Uint8Array>;

function copyOnce(view: Uint8Array | Uint8ClampedArray, copies: CallCopies): Uint8Array {
  let copy = copies.get(view);
  if (copy === undefined) {
    copy = snapshot(view);
    copies.set(view, copy);
  }
  return copy;
}

/** Checks an encoded image's size and format and copies its bytes. */
function toEncoded(input: Uint8Array, name: string, landmarks: Float32Array | undefined, copies: CallCopies): Encoded {
  const length = byteLengthOf(input);
  if (length === 0) {
    throw new MfnError("MFN_EMPTY_INPUT", `Expected an encoded image for ${name} but received 0 bytes`);
  }
  const bytes = copyOnce(input, copies);
  if (encodedFormat(bytes) === undefined) {
    throw new MfnError("MFN_DECODE_FAILED",
      `Could not decode ${name} (${length} bytes): not a JPEG, PNG or WebP image (no other format is accepted)`);
  }
  return { bytes, name, ...(landmarks === undefined ? {} : { landmarks }) };
}

async function decode({ bytes, name }: Encoded): Promise<NativeImage> {
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    // limitInputPixels: sharp refuses larger images from their header, before decoding.
    decoded = await sharp(bytes, { limitInputPixels: MAX_PIXELS })
      .removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    const code = /pixel limit/i.test(reason) ? "MFN_INVALID_DIMENSIONS" : "MFN_DECODE_FAILED";
    throw new MfnError(code, `Could not decode ${name} (${bytes.byteLength} bytes): ${reason}`, { cause: error });
  }
  const { data, info } = decoded;
  if (info.channels !== 3 || data.byteLength !== info.width * info.height * 3) {
    throw new MfnError("MFN_INTERNAL",
      `Decoding ${name} gave ${info.channels} channels and ${data.byteLength} bytes for ${info.width}x${info.height}, expected 3 channels of 8 bits`);
  }
  return { data, width: info.width, height: info.height, channels: 3, order: "rgb" };
}

/**
 * One input checked at call time: raw pixels as a NativeImage that still
 * points at the caller's buffer, an encoded image as a private copy of its
 * bytes.
 */
export type CheckedImage = NativeImage | Encoded;

/**
 * Validates one image synchronously (getters and proxies run here, once).
 * `name` names the argument in error messages ("input", "inputs[3]");
 * `copies` is shared by the images of one call.
 */
export function checkImage(input: unknown, name: string, landmarks: Float32Array | undefined,
                           copies: CallCopies): CheckedImage {
  if (types.isUint8Array(input)) return toEncoded(input, name, landmarks, copies);
  if (typeof input === "object" && input !== null && !Array.isArray(input) && !ArrayBuffer.isView(input) &&
      "data" in input) {
    const image = rawToNative(input as Partial<RawImage>, name);
    if (landmarks !== undefined) image.landmarks = landmarks;
    return image;
  }
  throw new MfnError("MFN_INVALID_ARGUMENT",
    `Expected an encoded image (Uint8Array or Buffer) or a raw image ({ data, width, height, channels }) ` +
    `for ${name} but received ${describe(input)}`);
}

function isEncoded(image: CheckedImage): image is Encoded {
  return "bytes" in image;
}

/**
 * The images of one native call. Without encoded images, synchronously: the
 * raw images still point at the caller's buffers, so the caller must hand
 * them to the binding (which copies them) before it awaits anything. With
 * encoded images, a promise of their decoding; the raw images are copied
 * now, so that what the caller does to its buffers meanwhile changes nothing.
 */
export function toNativeImages(checked: CheckedImage[], copies: CallCopies): NativeImage[] | Promise<NativeImage[]> {
  if (!checked.some(isEncoded)) return checked as NativeImage[];
  const decodes = new Map<Uint8Array, Promise<NativeImage>>();
  return Promise.all(checked.map(async (image) => {
    if (!isEncoded(image)) return { ...image, data: copyOnce(image.data, copies) };
    let decoded = decodes.get(image.bytes);
    if (decoded === undefined) {
      decoded = decode(image);
      decodes.set(image.bytes, decoded);
    }
    const { landmarks } = image;
    return { ...(await decoded), ...(landmarks === undefined ? {} : { landmarks }) };
  }));
}
