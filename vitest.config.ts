// Test tiers: fast unit tests beside the code, integration tests (real model, engine, server) in test/.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          // test/docs/: the links of README.md and docs/, and the fingerprint of its pictures: files only.
          include: ["{gateway,inference,trainer,db,loadtest,cli}/**/*.test.ts", "test/docs/**/*.test.ts"],
          // The Python engine's venv holds llama.cpp's own sources, tests included.
          exclude: ["**/node_modules/**", "**/.venv/**"],
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          globalSetup: ["test/globalSetup.ts"],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
