#!/usr/bin/env node
// npm run fuzz [-- --seconds 60 --targets onnx,manifest,image]
// Builds the libFuzzer harnesses of cpp/fuzz with clang (ASan + UBSan, in
// build/fuzz), writes their seed corpora with cpp/fuzz/make_seeds, and runs
// each harness for the given time on build/fuzz/corpus/<target>. A crash,
// leak, sanitizer report or timeout leaves its input in build/fuzz/artifacts
// and makes the command exit 1.
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { Command, InvalidArgumentError } from "commander";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const TARGETS = ["onnx", "manifest", "image"];

function positiveInt(value) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a positive integer");
  return n;
}

function targetList(value) {
  const list = value.split(",").map((t) => t.trim()).filter(Boolean);
  for (const t of list) if (!TARGETS.includes(t)) throw new InvalidArgumentError(`unknown target ${t}`);
  return list;
}

const options = new Command()
  .name("npm run fuzz --")
  .description("build the cpp/fuzz libFuzzer harnesses with clang and run each for a while")
  .option("--seconds <n>", "seconds per harness", positiveInt, 60)
  .option("--targets <list>", `comma-separated harnesses (${TARGETS.join(",")})`, targetList, TARGETS)
  .option("--build-dir <dir>", "where to build and keep corpora", join(root, "build", "fuzz"))
  .option("--jobs <n>", "parallel compile jobs", positiveInt, 2)
  .parse()
  .opts();

function which(tool) {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" }).stdout.trim();
}

const clang = which("clang++");
if (!clang) {
  console.error("npm run fuzz needs clang++ with libFuzzer (Debian: apt-get install clang libclang-rt-14-dev)");
  process.exit(2);
}

const build = options.buildDir;
const run = (cmd, args) => execFileSync(cmd, args, { stdio: "inherit", cwd: root });
run("cmake", ["-S", join(root, "cpp"), "-B", build, `-DCMAKE_CXX_COMPILER=${clang}`,
              `-DCMAKE_C_COMPILER=${which("clang") || "clang"}`, "-DMFN_FUZZ=ON", "-DMFN_CUDA=OFF",
              "-DBUILD_TESTING=OFF", "-DCMAKE_BUILD_TYPE=RelWithDebInfo"]);
run("cmake", ["--build", build, "-j", String(options.jobs), "--target", "make_seeds",
              ...options.targets.map((t) => `fuzz_${t}`)]);

const seeds = join(build, "seeds");
rmSync(seeds, { recursive: true, force: true });
run(join(build, "fuzz", "make_seeds"), [seeds]);

const artifacts = join(build, "artifacts");
mkdirSync(artifacts, { recursive: true });
let failed = false;
for (const target of options.targets) {
  const corpus = join(build, "corpus", target);
  mkdirSync(corpus, { recursive: true });
  console.log(`\n== fuzz_${target}: ${options.seconds} s`);
  const result = spawnSync(join(build, "fuzz", `fuzz_${target}`), [
    `-max_total_time=${options.seconds}`, "-timeout=10", "-rss_limit_mb=4096", "-print_final_stats=1",
    `-artifact_prefix=${join(artifacts, `${target}-`)}`, corpus, join(seeds, target),
  ], { stdio: "inherit", cwd: root });
  if (result.status !== 0) {
    failed = true;
    console.error(`fuzz_${target} failed (exit ${result.status ?? result.signal}); inputs in ${artifacts}:`);
    for (const file of readdirSync(artifacts).filter((f) => f.startsWith(`${target}-`))) console.error(`  ${file}`);
  }
}
process.exit(failed ? 1 : 0);
