/**
 * Starts one Postgres for the whole run (embedded, or TEST_DATABASE_URL), builds
 * a migrated template database, and hands its URL to the test files, which
 * clone it (CREATE DATABASE ... TEMPLATE) for a fresh database each.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { ensureDatabase, startEmbeddedPostgres } from "../../server/db/embedded.js";
import { migrate } from "../../server/db/migrate.js";
import { createPool } from "../../server/db/pool.js";
import { createLogger } from "../../server/logger.js";
import { buildClient } from "../browser/browser.js";
import { withDatabase } from "./db.js";

declare module "vitest" {
  export interface ProvidedContext {
    templateUrl: string;
    dataDir: string;
  }
}

export default async function setup(project: TestProject) {
  const logger = createLogger("warn", "test-setup", "stderr");
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-test-"));
  let serverUrl: string;
  let stopServer = async () => {};
  if (process.env.TEST_DATABASE_URL) {
    serverUrl = process.env.TEST_DATABASE_URL;
  } else {
    const embedded = await startEmbeddedPostgres(dataDir, logger, "postgres");
    serverUrl = embedded.url;
    stopServer = embedded.stop;
  }
  const templateName = `typed_jobs_template_${randomBytes(4).toString("hex")}`;
  const templateUrl = withDatabase(serverUrl, templateName);
  await ensureDatabase(serverUrl, templateName);
  const pool = createPool(templateUrl, 2);
  await migrate(pool, logger);
  await pool.end();

  // The browser and production tests serve the built client; build it once here
  // rather than in two test files at once.
  await buildClient();

  project.provide("templateUrl", templateUrl);
  project.provide("dataDir", dataDir);

  return async () => {
    const admin = new pg.Client({ connectionString: serverUrl });
    await admin.connect();
    const { rows } = await admin.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2",
      [`${templateName}_%`, templateName],
    );
    for (const { datname } of rows) {
      await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`).catch(() => {});
    }
    await admin.end();
    await stopServer();
    await fs.rm(dataDir, { recursive: true, force: true });
  };
}
