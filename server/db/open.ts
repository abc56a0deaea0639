/**
 * Opens the app's database: DATABASE_URL when set, else the embedded Postgres;
 * then the shared pool, the Prisma client, and pending migrations.
 */
import type pg from "pg";
import type { Config } from "../config.js";
import type { Logger } from "../logger.js";
import { startEmbeddedPostgres } from "./embedded.js";
import { migrate } from "./migrate.js";
import { createPool, createPrisma, type Db } from "./pool.js";

export interface OpenDatabase {
  url: string;
  pool: pg.Pool;
  db: Db;
  close: () => Promise<void>;
}

export async function openDatabase(config: Config, logger: Logger): Promise<OpenDatabase> {
  const embedded = config.DATABASE_URL ? undefined : await startEmbeddedPostgres(config.dataDir, logger);
  const url = config.DATABASE_URL ?? (embedded?.url as string);
  const pool = createPool(url, config.DB_POOL_SIZE, config.DB_QUERY_TIMEOUT_MS);
  const db = createPrisma(pool);
  try {
    await migrate(pool, logger);
  } catch (error) {
    await pool.end().catch(() => {});
    await embedded?.stop();
    throw error;
  }
  return {
    url,
    pool,
    db,
    close: async () => {
      await db.$disconnect().catch(() => {});
      await pool.end().catch(() => {});
      await embedded?.stop();
    },
  };
}
