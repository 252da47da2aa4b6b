// What the parent (runner.ts) and a child (child.ts) say to each other over
// the IPC channel (JSON), and the shape of one configuration's result, which
// is also what --json writes.
import type { BackendChoice, Budget } from "./options.js";
import type { Percentiles } from "./stats.js";

export type EngineName = "mfn" | "onnxruntime-node";

// One configuration, run in one fresh child process.
export interface RunSpec {
  engine: EngineName;
  backend: BackendChoice;    // requested backend; always "cpu" for the peer
  flip: boolean;
  batch: number;             // images per call
  concurrency: number;       // calls in flight (> 1 only with batch 1)
  threads: number;
  warmup: Budget;
  measure: Budget;
  pixels: string;            // index file of the pixel set (pixels.ts)
  model: string;             // .onnx path
  peerLevel: PeerLevel;      // the peer's graph optimisation level
  maxDelayUs: number | null; // mfn's batching delay; null = the library's default
}

export type PeerLevel = "auto" | "all" | "extended";

// How the onnxruntime-node session was set up (peers/ort.ts).
export interface PeerTuning {
  graphOptimizationLevel: "all" | "extended";
  // With --ort-opt auto: median ms per run of one image at each level tried.
  msPerRun: Record<string, number> | null;
}

export interface StageMedians {
  preprocess: number;
  hostToDevice: number;
  compute: number;
  deviceToHost: number;
  jsRoundTrip: number;       // call latency - the four native stages
}

export interface RunResult {
  engine: EngineName;
  requestedBackend: BackendChoice;
  backend: string;           // what actually ran ("cpu", "cuda")
  fallbackReason: string | null;
  flip: boolean;
  batch: number;
  concurrency: number;
  threads: number;
  loadMs: number;            // createEmbedder / InferenceSession.create
  warmup: { calls: number; seconds: number };
  calls: number;             // timed calls
  images: number;            // images embedded in the timed phase
  seconds: number;           // wall time of the timed phase
  cpuCores: number;          // the process's CPU time / wall time in the timed phase
  loadAverage: number;       // 1-minute load average at the end of the timed phase
  imagesPerSec: number;
  embeddingsPerSec: number;  // = imagesPerSec: one embedding per image
  passesPerSec: number;      // network forward passes: x2 with flip
  latencyMs: Percentiles;    // per call
  stagesMs: StageMedians | null;  // null for the peer (it reports none)
  rssMb: number;             // child's resident memory after the timed phase
  peerTuning: PeerTuning | null;  // null for mfn
  addonDir: string | null;   // the folder of the mfn.node measured; null for the peer
}

// A configuration that could not run (no GPU, addon missing, crash).
export interface RunFailure {
  engine: EngineName;
  requestedBackend: BackendChoice;
  flip: boolean;
  batch: number;
  concurrency: number;
  error: string;
  // "load": the engine (or session) could not be created, so every other
  // configuration of this engine and backend is skipped with the same error.
  during: "load" | "run" | "skipped";
}

export type NativeStages = Omit<StageMedians, "jsRoundTrip">;

// What a child's timing loop drives: mfn or a peer.
export interface Driver {
  backend: string;
  fallbackReason: string | null;
  peerTuning?: PeerTuning;
  addonDir?: string;
  // One call of `batch` images; slot = which in-flight call (varies the image).
  call(slot: number): Promise<void>;
  // Native stages of the call that just finished; null when there are none.
  stages(): NativeStages | null;
  dispose(): Promise<void>;
}

export type ChildMessage =
  | { type: "progress"; phase: "load" | "warmup" | "measure"; fraction: number }
  | { type: "result"; result: RunResult }
  | { type: "error"; message: string; during: "load" | "run" };

export function isFailure(r: RunResult | RunFailure): r is RunFailure {
  return "error" in r;
}
