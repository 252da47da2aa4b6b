import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Native addons crash vitest's threads pool: every test file gets its own process.
    pool: "forks",
    // Model loading and whole-network CPU runs on small CI machines.
    testTimeout: 120_000,
    hookTimeout: 300_000,
    teardownTimeout: 60_000,
  },
});
