// The embedded Postgres starts from a private folder (mode 700, as mktemp -d
// makes): as root it runs as the OS user postgres, which must be let through.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { expect, test } from "vitest";
import { startEmbeddedPostgres } from "../../server/db/embedded.js";
import { createLogger } from "../../server/logger.js";

test("starts under a private (700) parent folder and answers queries", async () => {
  const privateDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-private-"));
  expect((await fs.stat(privateDir)).mode & 0o777).toBe(0o700);
  const database = await startEmbeddedPostgres(path.join(privateDir, "data"), createLogger("silent"), "probe");
  try {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query("SELECT current_database() AS db");
    await client.end();
    expect(rows).toEqual([{ db: "probe" }]);
  } finally {
    await database.stop();
    await fs.rm(privateDir, { recursive: true, force: true });
  }
}, 120_000);
