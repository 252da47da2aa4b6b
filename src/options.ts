// Checks of the option objects and values every public call takes: the
// keys an options object may have, integers in a range, AbortSignals. Only
// errors.ts is imported, so light modules (the mfn/bullmq client) can use
// them without loading sharp or the addon.

import { MfnError, invalidParameter } from "./errors.js";

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

export function checkInteger(value: unknown, name: string, min: number, max: number, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalidParameter(name, `an integer between ${min} and ${max}`, value);
  }
  return value;
}

export function checkSignal(value: unknown, name: string): AbortSignal | undefined {
  if (value === undefined) return undefined;
  if (!(value instanceof AbortSignal)) throw invalidParameter(name, "an AbortSignal", value);
  return value;
}
