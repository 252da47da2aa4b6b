// The code a rejected mfn call carries; fails the test when the promise
// resolves or rejects with anything but an MfnError.
import { expect } from "vitest";

import { MfnError, type MfnErrorCode } from "../../src/index.js";

export async function codeOf(promise: Promise<unknown>): Promise<MfnErrorCode> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(MfnError);
    return (error as MfnError).code;
  }
  throw new Error("expected a rejection");
}
