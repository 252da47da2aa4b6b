// What the numbers were measured on: CPU, GPU (through nvidia-smi when it
// exists), versions and the git commit. Runs in the parent, once.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import os from "node:os";
import { dirname, join } from "node:path";

export interface GpuInfo {
  name: string;
  driver: string;
  memoryMiB: number | null;
}

export interface MachineInfo {
  cpu: { model: string; cores: number; isa: string[] };
  memoryGiB: number;
  os: string;
  gpus: GpuInfo[];
  cuda: string | null;  // the driver's CUDA version (nvidia-smi), null without one
  gpuNote: string | null;  // why there is no GPU information
}

export interface Versions {
  node: string;
  mfn: string;
  onnxruntimeNode: string | null;
}

export interface SourceInfo {
  commit: string | null;
  dirty: boolean;
}

function run(command: string, args: string[], cwd?: string): string | null {
  try {
    return execFileSync(command, args, { cwd, encoding: "utf8", timeout: 10_000, stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

// The SIMD extensions that matter for the CPU kernels, from /proc/cpuinfo.
function cpuIsa(): string[] {
  let flags: string[] = [];
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8").split("\n").find((l) => /^(flags|Features)\s*:/.test(l));
    flags = line ? line.split(":")[1].trim().split(/\s+/) : [];
  } catch {
    return [];
  }
  return ["avx512f", "avx512_vnni", "avx2", "fma", "neon", "asimd"].filter((f) => flags.includes(f));
}

export function machineInfo(): MachineInfo {
  const cpus = os.cpus();
  const gpus: GpuInfo[] = [];
  let cuda: string | null = null;
  let gpuNote: string | null = null;
  const query = run("nvidia-smi", ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"]);
  if (query === null) {
    gpuNote = "no nvidia-smi (no NVIDIA GPU or driver)";
  } else {
    for (const line of query.split("\n").filter(Boolean)) {
      const [name, driver, memory] = line.split(",").map((s) => s.trim());
      gpus.push({ name, driver, memoryMiB: Number.isFinite(Number(memory)) ? Number(memory) : null });
    }
    cuda = /CUDA Version:\s*([\d.]+)/.exec(run("nvidia-smi", []) ?? "")?.[1] ?? null;
    if (gpus.length === 0) gpuNote = "nvidia-smi lists no GPU";
  }
  return {
    cpu: { model: cpus[0]?.model.trim() ?? "unknown", cores: os.availableParallelism(), isa: cpuIsa() },
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    gpus,
    cuda,
    gpuNote,
  };
}

export function versions(packageRoot: string): Versions {
  const mfn = (JSON.parse(readFileSync(join(packageRoot, "package.json"), "utf8")) as { version: string }).version;
  let onnxruntimeNode: string | null = null;
  try {
    // Its package.json is not exported: find it beside its resolved entry.
    const require = createRequire(join(packageRoot, "package.json"));
    let dir = dirname(require.resolve("onnxruntime-node"));
    while (!onnxruntimeNode && dir !== dirname(dir)) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8")) as { name?: string; version: string };
        if (pkg.name === "onnxruntime-node") onnxruntimeNode = pkg.version;
      } catch {
        // not this folder: go up
      }
      dir = dirname(dir);
    }
  } catch {
    onnxruntimeNode = null;  // not installed
  }
  return { node: process.versions.node, mfn, onnxruntimeNode };
}

export function sourceInfo(packageRoot: string): SourceInfo {
  const commit = run("git", ["rev-parse", "HEAD"], packageRoot);
  const status = commit === null ? null : run("git", ["status", "--porcelain", "--untracked-files=no"], packageRoot);
  return { commit, dirty: status !== null && status.length > 0 };
}

// One line for titles: "Intel(R) Xeon(R) Processor, 2 cores" (+ GPU).
export function machineLine(m: MachineInfo): string {
  const gpu = m.gpus.length > 0 ? `, ${m.gpus[0].name} (driver ${m.gpus[0].driver}${m.cuda ? `, CUDA ${m.cuda}` : ""})` : "";
  return `${m.cpu.model}, ${m.cpu.cores} cores${gpu}`;
}
