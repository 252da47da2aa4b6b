// Caller inputs -> the binding's NativeImage: validation with typed errors,
// and decoding of encoded images (JPEG, PNG, WebP, ...) with sharp. Pixels of
// raw images are passed on without copying.

import { types } from "node:util";
import sharp, { type OutputInfo } from "sharp";

import { MfnError, describe, invalidParameter } from "./errors.js";
import type { NativeImage } from "./native.js";

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

/** An encoded image (JPEG, PNG, WebP, ...; a Buffer is a Uint8Array) or raw pixels. */
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
  const needed = width * height * channels;
  if (data.byteLength < needed) {
    throw new MfnError("MFN_INVALID_DIMENSIONS",
      `Expected at least ${needed} bytes of pixel data for a ${width}x${height}x${channels} ${name} ` +
      `but received ${data.byteLength}`);
  }
  return { data, width, height, channels, order };
}

async function decode(bytes: Uint8Array, name: string): Promise<NativeImage> {
  if (bytes.byteLength === 0) {
    throw new MfnError("MFN_EMPTY_INPUT", `Expected an encoded image for ${name} but received 0 bytes`);
  }
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(bytes).removeAlpha().toColourspace("srgb").raw().toBuffer({ resolveWithObject: true });
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
 * Validates one image and returns what the binding takes, decoding encoded
 * images. `name` names the argument in error messages ("input", "inputs[3]").
 */
export async function toNativeImage(input: unknown, name: string, landmarks?: Float32Array): Promise<NativeImage> {
  let image: NativeImage;
  if (types.isUint8Array(input)) {
    image = await decode(input, name);
  } else if (typeof input === "object" && input !== null && !Array.isArray(input) && !ArrayBuffer.isView(input) &&
             "data" in input) {
    image = rawToNative(input as Partial<RawImage>, name);
  } else {
    throw new MfnError("MFN_INVALID_ARGUMENT",
      `Expected an encoded image (Uint8Array or Buffer) or a raw image ({ data, width, height, channels }) ` +
      `for ${name} but received ${describe(input)}`);
  }
  if (landmarks !== undefined) image.landmarks = landmarks;
  return image;
}
