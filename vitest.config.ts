import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Native addons crash vitest's threads pool: every test file gets its own process.
    pool: "forks",
    // One file at a time: the package suite compiles and several suites run
    // whole-network batches and child processes; on a 2-core machine running
    // them beside each other only makes each slower. (Throughput is measured
    // by npm run bench:serving, never asserted here.)
    fileParallelism: false,
    // The suites test the local build (build/Release), never a prebuilt binary in prebuilds/.
    env: { MFN_FORCE_BUILD: "1" },
    // Model loading and whole-network CPU runs on small CI machines.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
  },
});
