// Installs where mfn's install script never ran. npm 11.16 and newer warn
// about dependencies' install scripts that the project's package.json
// "allowScripts" does not approve (npm 12 skips them; --strict-allow-scripts
// fails the install; --ignore-scripts skips them all). The prebuilt binary
// must still be found, and when no binary loads the advice must work on such
// an npm: approve the script (`npm install-scripts approve mfn`), then run it
// (`npm rebuild mfn`, with MFN_FORCE_BUILD=1 for a source build: npm 11
// warns that the --build-from-source option will stop working).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { INSTALL_RECORD, LOCAL_BUILD, type LoadContext, binaryCandidates, installRecord, loadContext,
         loadFailureMessage } from "../src/native.js";

let scratch: string;
let count = 0;

/** A fresh package directory holding `files` (path -> contents). */
function packageDir(files: Record<string, string>): string {
  const root = join(scratch, `pkg${count++}`);
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    writeFileSync(join(root, path), contents);
  }
  mkdirSync(root, { recursive: true });
  return root;
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "mfn-install-"));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe("the install record", () => {
  it("says whether the install script ran and what it chose; only a source build is preferred", () => {
    const prebuiltRecord = packageDir({ [INSTALL_RECORD]: '{ "binary": "prebuilt" }', [LOCAL_BUILD]: "" });
    const sourceRecord = packageDir({ [INSTALL_RECORD]: '{ "binary": "source" }', [LOCAL_BUILD]: "" });
    const olderRecord = packageDir({ [INSTALL_RECORD]: "{}", [LOCAL_BUILD]: "" }); // written only by source builds
    const none = packageDir({ [LOCAL_BUILD]: "" });
    expect([prebuiltRecord, sourceRecord, olderRecord, none].map((root) => installRecord(root)))
      .toEqual(["prebuilt", "source", "source", undefined]);
    expect(binaryCandidates(prebuiltRecord, {}).map((c) => c.origin)).toEqual(["local build"]);
    expect(binaryCandidates(sourceRecord, {}).map((c) => c.origin)).toEqual(["source build"]);
    expect(loadContext(prebuiltRecord).installScript).toBe("ran");
    expect(loadContext(none).installScript).toBe("not run");
    // A development checkout builds with `npm run build`; its install script is not meant to do anything.
    expect(loadContext(packageDir({ "cpp/tests/x.cc": "" })).installScript).toBeUndefined();
  });
});

describe("advice when no binary loads", () => {
  const context: LoadContext = { root: "/app/node_modules/mfn", platform: "linux-arm64", shipped: ["linux-x64"],
                                 glibc: "2.36", node: "20.9.0" };

  it("an install script that never ran: approve it, then run it", () => {
    const message = loadFailureMessage([], { ...context, installScript: "not run" });
    expect(message).toContain("mfn's install script has not run here");
    expect(message).toContain("`npm install-scripts approve mfn`");
    expect(message).toContain("`npm rebuild mfn`");
  });

  it("a source build is asked for in a way npm 11 passes on and npm 12 keeps passing on", () => {
    const message = loadFailureMessage([], { ...context, installScript: "ran" });
    expect(message).toContain("there is no prebuilt binary for linux-arm64");
    expect(message).toContain("`MFN_FORCE_BUILD=1 npm rebuild mfn`");
    expect(message).toContain("`npm install-scripts approve mfn`");
    expect(message).not.toContain("--build-from-source");
    expect(message).not.toContain("install script has not run");
  });
});
