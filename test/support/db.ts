/** A fresh database per test file, cloned from the migrated template. */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { createPool, createPrisma, type Db } from "../../server/db/pool.js";

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

/** Creates a new database from the template and returns its URL. */
export async function createTestDatabase(): Promise<string> {
  const templateUrl = inject("templateUrl");
  const template = new URL(templateUrl).pathname.slice(1);
  const name = `${template}_${randomBytes(6).toString("hex")}`;
  const admin = new pg.Client({ connectionString: withDatabase(templateUrl, "postgres") });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${template}"`);
  } finally {
    await admin.end();
  }
  return withDatabase(templateUrl, name);
}

export interface TestDb {
  url: string;
  pool: pg.Pool;
  db: Db;
  close: () => Promise<void>;
}

export async function openTestDb(): Promise<TestDb> {
  const url = await createTestDatabase();
  const pool = createPool(url, 10);
  const db = createPrisma(pool);
  return {
    url,
    pool,
    db,
    close: async () => {
      await db.$disconnect();
      await pool.end().catch(() => {});
    },
  };
}
