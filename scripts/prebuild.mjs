#!/usr/bin/env node
// Builds the binaries shipped in the npm package (`npm run build:prebuilds`):
//   prebuilds/<platform>-<arch>/mfn.napi.glibc.node   the addon (Node-API 8: every Node >= 20.9)
//   prebuilds/<platform>-<arch>/libmfn_cuda.so        the CUDA plugin, dlopened from beside it
// The file names follow node-gyp-build's rules (napi, libc tags), which
// src/native.ts applies. cmake-js builds them in build-prebuild/ with
// MFN_PORTABLE=ON (see CMakeLists.txt); a rerun rebuilds only what changed, so
// an up-to-date prebuild takes seconds. Then it checks what it built and
// refuses to ship a binary that fails a check:
//   - no -march/-mtune=native; x86 ISA flags only on the *_avx2.cc / *_avx512.cc
//     files (run-time dispatch picks them), which define no weak symbols the
//     linker could share with other code, so the addon runs on any x86-64;
//   - the plugin compiled for every architecture of cmake/cuda-archs.cmake;
//   - only glibc's libraries and libgcc_s needed, glibc <= MAX_GLIBC, no GLIBCXX;
//   - only the entry points exported.
// Writes build-prebuild/prebuild.json (sizes, glibc, architectures, seconds).
//
//   node scripts/prebuild.mjs            build, check, copy into prebuilds/
//   node scripts/prebuild.mjs --no-cuda  without the CUDA plugin (platforms without nvcc)
//   node scripts/prebuild.mjs --check    only check that prebuilds/ holds this platform's binaries
//                                        and that they are newer than the sources (npm pack runs it)
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync,
         writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const buildDir = join(root, "build-prebuild");
// Debian 12 / Ubuntu 22.04 / RHEL 9 era. A newer glibc symbol means a newer
// build machine or a new libc call: the README and the loader's messages
// state this number, so change them together.
const MAX_GLIBC = "2.34";
const ALLOWED_NEEDED = /^(libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libgcc_s\.so\.1|ld-linux-[\w-]+\.so\.\d)$/;

const args = new Set(process.argv.slice(2));
const platform = `${process.platform}-${process.arch}`;
const outDir = join(root, "prebuilds", platform);
const libcTag = process.platform !== "linux" ? "" : existsSync("/etc/alpine-release") ? ".musl" : ".glibc";
const addonName = `mfn.napi${libcTag}.node`;
const withCuda = process.platform === "linux" && !args.has("--no-cuda");
const shipped = [addonName, ...(withCuda ? ["libmfn_cuda.so"] : [])];

function fail(message) {
  console.error(`prebuild: ${message}`);
  process.exit(1);
}

function versionAbove(a, b) {
  const [pa, pb] = [a, b].map((v) => v.split(".").map(Number));
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) > (pb[i] ?? 0);
  }
  return false;
}

/** The newest modification time of the files that go into the binaries. */
function newestSource() {
  let newest = 0;
  const visit = (path) => {
    const stat = statSync(path);
    if (stat.isDirectory()) {
      for (const name of readdirSync(path)) if (name !== "tests") visit(join(path, name));
    } else {
      newest = Math.max(newest, stat.mtimeMs);
    }
  };
  for (const path of ["CMakeLists.txt", "cmake", "cpp", "binding"]) visit(join(root, path));
  return newest;
}

if (args.has("--check")) {
  const newest = newestSource();
  for (const name of shipped) {
    const path = join(outDir, name);
    if (!existsSync(path)) fail(`${relative(root, path)} is missing: run \`npm run build:prebuilds\` first`);
    if (statSync(path).mtimeMs < newest) {
      fail(`${relative(root, path)} is older than the sources: run \`npm run build:prebuilds\` again`);
    }
  }
  console.error(`prebuild: prebuilds/${platform} is up to date (${shipped.join(", ")})`);
  process.exit(0);
}

const started = Date.now();
const cmakeJs = join(dirname(createRequire(import.meta.url).resolve("cmake-js/package.json")), "bin", "cmake-js");
const common = ["-O", buildDir, "-p", String(availableParallelism())];
const defines = ["MFN_PORTABLE=ON", "BUILD_TESTING=OFF", `MFN_CUDA=${withCuda ? "ON" : "OFF"}`,
                 "CMAKE_EXPORT_COMPILE_COMMANDS=ON"].map((d) => `--CD${d}`);
// configure every time (seconds) so that changed options reach the cache, then build incrementally.
for (const step of [["configure", ...common, ...defines], ["build", ...common, "-T", "mfn_node"]]) {
  const result = spawnSync(process.execPath, [cmakeJs, ...step], { cwd: root, stdio: "inherit" });
  if (result.status !== 0) fail(`cmake-js ${step[0]} failed (exit ${result.status ?? result.signal})`);
}

// --- compile flags -------------------------------------------------------------
const commands = JSON.parse(readFileSync(join(buildDir, "compile_commands.json"), "utf8"));
const isaFlag = /^-m(avx|fma|f16c|bmi|sse4|sse3|ssse3|popcnt|lzcnt|amx|vnni)/;
const cudaArchs = [...readFileSync(join(root, "cmake", "cuda-archs.cmake"), "utf8")
  .matchAll(/^\s*(\d+)-(real|virtual)\b/gm)].map(([, arch, kind]) =>
  kind === "real" ? `arch=compute_${arch},code=[sm_${arch}]` : `arch=compute_${arch},code=[compute_${arch}]`);
let cudaFiles = 0;
for (const { file, command, directory } of commands) {
  const name = relative(root, file);
  if (/-m(arch|tune|cpu)=native|-arch=native|-arch=all/.test(command)) fail(`${name} is compiled for the build machine: ${command}`);
  const isa = command.split(/\s+/).filter((flag) => isaFlag.test(flag));
  if (isa.length > 0 && !/_avx(2|512)\.cc$/.test(file)) fail(`${name} gets ISA flags ${isa.join(" ")} outside the dispatched files`);
  if (isa.length > 0 && process.platform === "linux") {
    // A weak (inline, template) definition compiled with ISA flags may be the
    // copy the linker keeps for every caller, dispatched or not.
    const object = join(directory, /\s-o\s+(\S+)/.exec(command)[1]);
    const weak = execFileSync("nm", ["--defined-only", "-C", object], { encoding: "utf8" }).split("\n")
      .filter((line) => / [Ww] /.test(line));   // weak code; weak data (V) holds no instructions
    if (weak.length > 0) fail(`${name} defines weak symbols compiled with ${isa.join(" ")}: ${weak.slice(0, 3).join("; ")}`);
  }
  if (file.endsWith(".cu")) {
    cudaFiles++;
    const missing = cudaArchs.filter((arch) => !command.includes(arch));
    if (missing.length > 0) fail(`${name} misses CUDA targets ${missing.join(" ")}`);
  }
}
if (withCuda && cudaFiles === 0) fail("no CUDA file was compiled");

// --- what the binaries need and export ------------------------------------------
const built = { [addonName]: join(buildDir, "Release", "mfn.node"), "libmfn_cuda.so": join(buildDir, "Release", "libmfn_cuda.so") };
const report = { platform, seconds: 0, glibc: "", cudaArchitectures: withCuda ? cudaArchs : [], files: {} };
for (const name of shipped) {
  const path = built[name];
  if (!existsSync(path)) fail(`${relative(root, path)} was not built`);
  const info = { bytes: statSync(path).size, glibc: "" };
  if (process.platform === "linux") {
    const dynamic = execFileSync("objdump", ["-T", path], { encoding: "utf8", maxBuffer: 64 << 20 });
    const glibcs = [...dynamic.matchAll(/\bGLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1]);
    info.glibc = glibcs.reduce((max, v) => (versionAbove(v, max) ? v : max), "0");
    if (versionAbove(info.glibc, MAX_GLIBC)) {
      const late = [...new Set(dynamic.split("\n").filter((line) => glibcs.some((v) => versionAbove(v, MAX_GLIBC) &&
        line.includes(`GLIBC_${v})`))).map((line) => line.trim().split(/\s+/).slice(-2).join(" ")))];
      fail(`${name} needs glibc ${info.glibc} (> ${MAX_GLIBC}): ${late.join(", ")}`);
    }
    const cxx = /\b(GLIBCXX|CXXABI)_[\d.]+/.exec(dynamic);
    if (cxx) fail(`${name} needs the system libstdc++ (${cxx[0]}): it should be linked statically`);
    const exported = dynamic.split("\n").filter((line) => /\s(g|w)\s/.test(line) && !line.includes("*UND*"))
      .map((line) => line.trim().split(/\s+/).at(-1));
    const allowed = name === addonName ? /^(napi_register_module_v1|node_api_module_get_api_version_v1)$/ : /^mfn_backend_\w+$/;
    const stray = exported.filter((symbol) => !allowed.test(symbol));
    if (stray.length > 0) fail(`${name} exports ${stray.slice(0, 5).join(", ")}${stray.length > 5 ? ", ..." : ""}`);
    const needed = [...execFileSync("readelf", ["-d", path], { encoding: "utf8" }).matchAll(/\(NEEDED\).*\[(.+)\]/g)]
      .map((m) => m[1]);
    const foreign = needed.filter((lib) => !ALLOWED_NEEDED.test(lib));
    if (foreign.length > 0) fail(`${name} needs ${foreign.join(", ")}, which a user may not have`);
    if (versionAbove(info.glibc, report.glibc || "0")) report.glibc = info.glibc;
  }
  report.files[name] = info;
}

// --- ship -------------------------------------------------------------------------
rmSync(outDir, { recursive: true, force: true });
mkdirSync(outDir, { recursive: true });
for (const name of shipped) copyFileSync(built[name], join(outDir, name));
report.seconds = Math.round((Date.now() - started) / 100) / 10;
writeFileSync(join(buildDir, "prebuild.json"), `${JSON.stringify(report, null, 2)}\n`);
const sizes = shipped.map((name) => `${name} ${(report.files[name].bytes / 1e6).toFixed(2)} MB`).join(", ");
console.error(`prebuild: prebuilds/${platform}: ${sizes}; needs glibc >= ${report.glibc || "n/a"}; ` +
              `${report.seconds} s`);
