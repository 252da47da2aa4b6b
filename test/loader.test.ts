// The loader (src/native.ts): which mfn.node it picks in a package folder, and
// the fixes its error lists for each kind of failure. The failures are real
// dlopen errors: copies of the local build patched to need a glibc or a
// libstdc++ this system lacks, to be built for another architecture, or cut
// short. Loading such a copy fails before any of its code runs.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import {
  type LoadContext,
  LOCAL_BUILD,
  binaryCandidates,
  loadBinding,
  loadFailureMessage,
  packageRoot,
  resolvePrebuilt,
} from "../src/native.js";

const platform = `${process.platform}-${process.arch}`;
const localBuild = join(packageRoot, LOCAL_BUILD);
const glibc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime;

let scratch: string;
let count = 0;

/** A fresh package folder holding the given files (path -> contents, or a symlink target). */
function packageDir(files: Record<string, Uint8Array | { link: string }>): string {
  const root = join(scratch, `pkg${count++}`);
  for (const [path, contents] of Object.entries(files)) {
    mkdirSync(join(root, path, ".."), { recursive: true });
    if (contents instanceof Uint8Array) writeFileSync(join(root, path), contents);
    else symlinkSync(contents.link, join(root, path));
  }
  mkdirSync(root, { recursive: true });
  return root;
}

const prebuilt = `prebuilds/${platform}/mfn.napi.glibc.node`;
const empty = new Uint8Array(0);

/** The local build with its highest `prefix` version (two digits after the last dot) raised to .99. */
function withVersionRaised(binary: Buffer, prefix: string): { bytes: Buffer; version: string } {
  const text = binary.toString("latin1");
  const pattern = new RegExp(`${prefix}\\d+\\.\\d+\\.?\\d*\\0`, "g");
  const versions = [...text.matchAll(pattern)].map((m) => m[0].slice(0, -1)).filter((v) => /\.\d\d$/.test(v));
  const highest = versions.sort().at(-1);
  if (highest === undefined) throw new Error(`no ${prefix} version with two final digits in the local build`);
  const raised = highest.replace(/\d\d$/, "99");
  return { bytes: Buffer.from(text.split(`${highest}\0`).join(`${raised}\0`), "latin1"), version: raised };
}

function loadError(root: string, env: NodeJS.ProcessEnv = {}): string {
  try {
    loadBinding(root, env);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the binding loaded");
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "mfn-loader-"));
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe("which binary the loader picks", () => {
  it("the suites use the local build: vitest.config.ts sets MFN_FORCE_BUILD", () => {
    expect(binaryCandidates()).toEqual([{ origin: "MFN_FORCE_BUILD", path: localBuild }]);
  });

  it("prefers the prebuilt binary to a local build unless asked", () => {
    const root = packageDir({ [prebuilt]: empty, [LOCAL_BUILD]: empty });
    expect(binaryCandidates(root, {})).toEqual([
      { origin: "prebuilt", path: join(root, prebuilt) },
      { origin: "local build", path: join(root, LOCAL_BUILD) },
    ]);
    expect(binaryCandidates(root, { MFN_FORCE_BUILD: "0" }).map((c) => c.origin)).toEqual(["prebuilt", "local build"]);
    expect(binaryCandidates(root, { MFN_FORCE_BUILD: "1" })).toEqual([
      { origin: "MFN_FORCE_BUILD", path: join(root, LOCAL_BUILD) },
    ]);
    expect(binaryCandidates(root, { MFN_BINARY: "/opt/mfn.node", MFN_FORCE_BUILD: "1" })).toEqual([
      { origin: "MFN_BINARY", path: "/opt/mfn.node" },
    ]);
  });

  it("prefers a build the install script made from source, then the prebuilt binary", () => {
    const root = packageDir({ [prebuilt]: empty, [LOCAL_BUILD]: empty, "build/mfn-install.json": Buffer.from("{}") });
    expect(binaryCandidates(root, {}).map((c) => c.origin)).toEqual(["source build", "prebuilt"]);
  });

  it("follows node-gyp-build's tags: another platform or libc does not match", () => {
    const other = process.arch === "x64" ? "arm64" : "x64";
    const root = packageDir({
      [`prebuilds/${process.platform}-${other}/mfn.napi.glibc.node`]: empty,
      [`prebuilds/${platform}/mfn.napi.musl.node`]: empty,
    });
    expect(resolvePrebuilt(root)).toBeUndefined();
    expect(binaryCandidates(root, {})).toEqual([]);
    const shipped = packageDir({ [`prebuilds/${platform}/mfn.napi.glibc.node`]: empty });
    expect(resolvePrebuilt(shipped)).toBe(join(shipped, prebuilt));
  });
});

describe.skipIf(process.platform !== "linux" || glibc === undefined)("load failures list the matching fixes", () => {
  let binary: Buffer;

  beforeAll(() => {
    binary = readFileSync(localBuild);
  });

  it("falls back to the local build when the prebuilt binary does not load", () => {
    const { bytes } = withVersionRaised(binary, "GLIBC_");
    const root = packageDir({ [prebuilt]: bytes, [LOCAL_BUILD]: { link: localBuild } });
    const binding = loadBinding(root, {});
    expect(typeof binding.createEngine).toBe("function");
  });

  it("a glibc too old: names the glibc needed and the one here", () => {
    const { bytes, version } = withVersionRaised(binary, "GLIBC_");
    const message = loadError(packageDir({ [prebuilt]: bytes }));
    expect(message).toContain(`- prebuilt ${prebuilt}: `);
    expect(message).toContain(`version \`${version}' not found`);
    expect(message).toContain(`${prebuilt} needs glibc ${version.slice(6)} or newer and this system has ${glibc}`);
    expect(message).toContain("MFN_FORCE_BUILD=1 npm rebuild mfn");
    expect(message).not.toContain("MFN_BINARY");
  });

  it("a libstdc++ too old: rebuild here", () => {
    const { bytes, version } = withVersionRaised(binary, "GLIBCXX_");
    const message = loadError(packageDir({ [prebuilt]: bytes }));
    expect(message).toContain(`needs a newer libstdc++ (${version})`);
    expect(message).not.toContain("needs glibc");
  });

  it("another architecture: says which, and to reinstall on this machine", () => {
    const bytes = Buffer.from(binary);
    bytes.writeUInt16LE(process.arch === "arm64" ? 0x3e : 0xb7, 18);
    const message = loadError(packageDir({ [prebuilt]: bytes }));
    expect(message).toContain(`(built for ${process.arch === "arm64" ? "x64" : "arm64"}, this process is ${process.arch})`);
    expect(message).toContain("was built for another architecture");
    expect(message).toContain("rm -rf node_modules && npm install");
  });

  it("a damaged file: reinstall", () => {
    const message = loadError(packageDir({ [prebuilt]: binary.subarray(0, 40) }));
    expect(message).toMatch(/file too short|invalid ELF header/);
    expect(message).toContain("is not a Linux library or is damaged");
  });

  it("no prebuilt binary for this platform, or none at all: build from source", () => {
    const other = process.arch === "x64" ? "arm64" : "x64";
    const foreign = loadError(packageDir({ [`prebuilds/linux-${other}/mfn.napi.glibc.node`]: empty }));
    expect(foreign).toContain(`there is no prebuilt binary for ${platform} (only for linux-${other})`);
    expect(foreign).toContain("MFN_FORCE_BUILD=1 npm rebuild mfn");
    const none = loadError(packageDir({ "package.json": Buffer.from("{}") }));
    expect(none).toContain("- nothing: no prebuilt binary matches and there is no local build");
    expect(none).toContain("has no prebuilt binaries");
  });

  it("the overrides: MFN_BINARY that does not exist, MFN_FORCE_BUILD without a build", () => {
    const root = packageDir({ [prebuilt]: empty });
    expect(loadError(root, { MFN_BINARY: "/nowhere/mfn.node" }))
      .toContain("MFN_BINARY is set to /nowhere/mfn.node, which does not exist");
    const forced = loadError(root, { MFN_FORCE_BUILD: "1" });
    expect(forced).toContain(`MFN_FORCE_BUILD is set but there is no local build (${LOCAL_BUILD})`);
    expect(forced).not.toContain("prebuilt " + prebuilt);
  });
});

describe("fixes for failures this machine cannot produce", () => {
  const context: LoadContext = { root: "/app/node_modules/mfn", platform: "linux-x64", shipped: ["linux-x64"],
                                 glibc: undefined, node: "20.9.0" };

  it("musl: the prebuilt binaries are for glibc", () => {
    expect(loadFailureMessage([], context)).toContain("this one uses musl (Alpine?)");
  });

  it("a Node.js without the Node-API functions the binary needs", () => {
    const message = loadFailureMessage([{
      candidate: { origin: "prebuilt", path: `/app/node_modules/mfn/${prebuilt}` },
      message: "undefined symbol: node_api_get_module_file_name",
    }], { ...context, glibc: "2.35" });
    expect(message).toContain("Node.js 20.9.0 lacks Node-API functions");
  });
});
