#!/usr/bin/env node
// The package's install script: `npm install mfn` and `npm rebuild mfn` run it.
//   - In a development checkout (cpp/tests exists; the packed package leaves it
//     out) it does nothing: `npm run build` builds the addon and the TypeScript.
//   - Otherwise, when the prebuilt binary for this platform loads and embeds an
//     image in a child process (so a binary that cannot run here never takes
//     this process down), it is used and nothing is compiled.
//   - Else, or when asked (MFN_FORCE_BUILD=1 npm rebuild mfn, or the
//     --build-from-source npm option, which npm 11 warns will stop working),
//     it builds from source with cmake-js into build/ (the CUDA plugin too
//     when nvcc exists) and checks that build the same way.
// Either way it records its choice in build/mfn-install.json (INSTALL_RECORD
// in src/native.ts): the loader prefers a source build to the prebuilt
// binary, and knows from the record's absence that this script never ran
// (npm 11.16+ asks projects to approve dependencies' install scripts).
// Every step says why it was taken; a failure exits non-zero with the fixes.
//
//   node scripts/install.mjs --check <mfn.node>   the child-process check itself
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { availableParallelism } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);
const log = (message) => console.log(`mfn: ${message}`);

/** Child side: load the addon, embed one synthetic face, report what the engine chose. */
async function check(addonPath) {
  const binding = require(addonPath);
  const engine = await binding.createEngine({
    modelPath: join(root, "models", "mobilefacenet.onnx"),
    manifestPath: "",
    backend: "auto",
    threads: 1,
    device: 0,
    maxBatch: 1,
  });
  const data = new Uint8Array(112 * 112 * 3).map((_, i) => (i * 31) % 251);
  const out = new Float32Array(engine.dimensions);
  await engine.embed([{ data, width: 112, height: 112, channels: 3, order: "rgb" }], true, out);
  const norm = Math.hypot(...out);
  const { backend, fallbackReason } = engine;
  await engine.dispose();
  if (!(Math.abs(norm - 1) < 1e-3)) throw new Error(`the test embedding has norm ${norm}, not 1`);
  console.log(JSON.stringify({ backend, fallbackReason }));
}

/** Parent side: runs check() in a child; { ok, detail }. */
function checkInChild(addonPath) {
  const result = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--check", addonPath],
                           { encoding: "utf8", timeout: 300_000 });
  if (result.status === 0) {
    const { backend, fallbackReason } = JSON.parse(result.stdout.trim().split("\n").at(-1));
    return { ok: true, detail: backend === "cuda" ? "CUDA backend available" : `CPU backend (${fallbackReason || "no GPU"})` };
  }
  const output = `${result.stderr}\n${result.stdout}`.split("\n").map((l) => l.trim()).filter(Boolean);
  const why = result.error ? result.error.message
    : result.signal ? `killed by ${result.signal}${result.signal === "SIGILL" ? " (an instruction this CPU lacks)" : ""}`
    : output.find((line) => /error/i.test(line)) ?? output[0] ?? `exit code ${result.status}`;
  return { ok: false, detail: why };
}

/** build/mfn-install.json: which binary this install chose, and why. */
function record(binary, reason) {
  mkdirSync(join(root, "build"), { recursive: true });
  writeFileSync(join(root, "build", "mfn-install.json"),
    `${JSON.stringify({ binary, reason, node: process.versions.node, date: new Date().toISOString() }, null, 2)}\n`);
}

function buildFromSource(reason, forced) {
  log(`building from source: ${reason}`);
  const cmakeJs = join(dirname(require.resolve("cmake-js/package.json")), "bin", "cmake-js");
  const result = spawnSync(process.execPath,
    [cmakeJs, "build", "-O", join(root, "build"), "-T", "mfn_node", "-p", String(availableParallelism()),
     "--CDBUILD_TESTING=OFF"],
    { cwd: root, stdio: "inherit" });
  if (result.status !== 0) {
    console.error([
      `mfn: the build from source failed (${reason}).`,
      "Possible fixes:",
      "- install CMake >= 3.18 and a C++17 compiler (Debian/Ubuntu: apt-get install cmake g++; RHEL: dnf install " +
        "cmake gcc-c++; Alpine: apk add cmake build-base), then run " +
        (forced ? "`MFN_FORCE_BUILD=1 npm rebuild mfn`" : "`npm rebuild mfn`"),
      ...(forced ? ["- on linux-x64 with glibc >= 2.34, leave out MFN_FORCE_BUILD / --build-from-source to use the " +
                    "prebuilt binary"] : []),
    ].join("\n"));
    process.exit(1);
  }
  const built = join(root, "build", "Release", "mfn.node");
  const { ok, detail } = checkInChild(built);
  if (!ok) {
    console.error(`mfn: the addon built from source does not work: ${detail}`);
    process.exit(1);
  }
  record("source", reason);
  log(`built ${relative(root, built)} from source; ${detail}`);
}

async function main() {
  if (process.argv[2] === "--check") return check(process.argv[3]);

  if (existsSync(join(root, "cpp", "tests"))) {
    log("development checkout: `npm run build` builds the addon (cmake-js) and the TypeScript");
    return;
  }
  const forced = process.env.npm_config_build_from_source === "true" ? "--build-from-source was given"
    : ["", "0", "false"].includes(process.env.MFN_FORCE_BUILD ?? "") ? undefined : "MFN_FORCE_BUILD is set";
  if (forced) return buildFromSource(forced, true);

  const { resolvePrebuilt } = await import("../dist/native.js");
  const prebuilt = resolvePrebuilt(root);
  const platform = `${process.platform}-${process.arch}`;
  if (prebuilt === undefined) return buildFromSource(`no prebuilt binary matches ${platform}`);
  const { ok, detail } = checkInChild(prebuilt);
  if (!ok) return buildFromSource(`the prebuilt binary ${relative(root, prebuilt)} does not work here: ${detail}`);
  record("prebuilt", detail);
  log(`using the prebuilt binary ${relative(root, prebuilt)}; ${detail}`);
}

await main();
