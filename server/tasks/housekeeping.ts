/**
 * Recurring maintenance, run by graphile-worker's cron (one run per slot across
 * all workers). These are graphile tasks, not job types: they have no Job record.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { Task } from "graphile-worker";
import type pg from "pg";

/** Deletes idempotency keys past their window (expired keys are already ignored at read). */
export function cleanupIdempotencyKeys(pool: pg.Pool): Task {
  return async (_payload, helpers) => {
    const { rowCount } = await pool.query("DELETE FROM idempotency_keys WHERE expires_at <= now()");
    helpers.logger.info(`deleted ${rowCount ?? 0} expired idempotency keys`);
  };
}

/**
 * Deletes exports past their retention (the file and its row) and temporary
 * files a crashed export left behind (never served: downloads read only
 * renamed, recorded files).
 */
export function cleanupExports(pool: pg.Pool, exportDir: string): Task {
  return async (_payload, helpers) => {
    const { rows } = await pool.query<{ path: string }>(
      "DELETE FROM export_files WHERE expires_at <= now() RETURNING path",
    );
    for (const row of rows) await fs.rm(row.path, { force: true });
    let stale = 0;
    const entries = await fs.readdir(exportDir).catch(() => [] as string[]);
    for (const name of entries.filter((n) => n.endsWith(".tmp"))) {
      const file = path.join(exportDir, name);
      const stat = await fs.stat(file).catch(() => undefined);
      if (stat && Date.now() - stat.mtimeMs > 24 * 3600_000) {
        await fs.rm(file, { force: true });
        stale += 1;
      }
    }
    helpers.logger.info(`deleted ${rows.length} expired exports and ${stale} stale temporary files`);
  };
}

export const HOUSEKEEPING_CRONTAB = [
  "*/10 * * * * cleanup_idempotency_keys ?max=1",
  "17 * * * * cleanup_exports ?max=1",
].join("\n");
