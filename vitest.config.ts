// Tests run against real Postgres: an embedded instance started once per run
// (test/support/global-setup.ts), or TEST_DATABASE_URL. Each test file gets
// its own database cloned from a migrated template.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 90_000,
    pool: "forks",
    maxWorkers: 2,
  },
});
