// MfnError: every failure the package reports, with a stable `code`.
// Native errors arrive as plain Errors carrying `code` (mfn::code_name);
// they are re-raised here with the stack of the caller's call site, so that
// a failed embed() points at user code rather than at this package.

export const MFN_ERROR_CODES = [
  "MFN_INVALID_ARGUMENT",
  "MFN_EMPTY_INPUT",
  "MFN_DECODE_FAILED",
  "MFN_INVALID_DIMENSIONS",
  "MFN_INVALID_CHANNELS",
  "MFN_INVALID_LANDMARKS",
  "MFN_MODEL_INVALID",
  "MFN_MODEL_UNSUPPORTED",
  "MFN_BACKEND_UNAVAILABLE",
  "MFN_CUDA_ERROR",
  "MFN_OUT_OF_MEMORY",
  "MFN_QUEUE_FULL",
  "MFN_DISPOSED",
  "MFN_ABORTED",
  "MFN_INTERNAL",
  "MFN_DEPENDENCY_MISSING",
  "MFN_NONFINITE",
  "MFN_DIMENSION_MISMATCH",
  "MFN_INVALID_EMBEDDING",
  "MFN_GALLERY_FILE_INVALID",
  "MFN_IO_ERROR",
] as const;

export type MfnErrorCode = (typeof MFN_ERROR_CODES)[number];

const knownCodes: ReadonlySet<unknown> = new Set(MFN_ERROR_CODES);

export function isMfnErrorCode(value: unknown): value is MfnErrorCode {
  return knownCodes.has(value);
}

export class MfnError extends Error {
  readonly code: MfnErrorCode;

  constructor(code: MfnErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "MfnError";
    this.code = code;
  }
}

/** A short description of a value for "but received ..." messages. */
export function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (typeof value === "number") return Number.isNaN(value) ? "NaN" : `number ${value}`;
  if (typeof value === "string") return value.length > 40 ? "string" : `string "${value}"`;
  if (typeof value === "bigint") return "bigint";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "symbol") return "symbol";
  if (typeof value === "function") return "function";
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `${value.constructor.name} of ${value.byteLength} bytes`;
  const name = (value as object).constructor?.name;
  return name && name !== "Object" ? `${name} object` : "object";
}

/** "Expected <expected> for <name> but received <actual>". */
export function invalidParameter(
  name: string,
  expected: string,
  actual: unknown,
  code: MfnErrorCode = "MFN_INVALID_ARGUMENT",
): MfnError {
  return new MfnError(code, `Expected ${expected} for ${name} but received ${describe(actual)}`);
}

/** Records the stack of a public method's caller (frames above `fn`). */
export function callSite(fn: Function): { stack?: string } {
  const site: { stack?: string } = {};
  Error.captureStackTrace(site, fn);
  return site;
}

/**
 * Turns anything thrown inside a public method into an MfnError whose stack
 * is the caller's: MfnErrors keep their code, native errors bring theirs,
 * anything else becomes MFN_INTERNAL with the original as `cause`.
 */
export function atCallSite(error: unknown, site: { stack?: string }): MfnError {
  let result: MfnError;
  if (error instanceof MfnError) {
    result = error;
  } else if (error instanceof Error && isMfnErrorCode((error as Error & { code?: unknown }).code)) {
    result = new MfnError((error as Error & { code: MfnErrorCode }).code, error.message);
  } else {
    const message = error instanceof Error ? error.message : String(error);
    result = new MfnError("MFN_INTERNAL", message, { cause: error });
  }
  if (site.stack !== undefined) {
    // site.stack is "Error\n    at caller..."; keep the frames, use our header.
    const frames = site.stack.slice(site.stack.indexOf("\n") + 1);
    result.stack = `${result.name} [${result.code}]: ${result.message}\n${frames}`;
  }
  return result;
}

/** The error of a call whose AbortSignal fired. */
export function abortedError(signal: AbortSignal): MfnError {
  return new MfnError("MFN_ABORTED", "The operation was aborted", { cause: signal.reason });
}
