/**
 * Recurring maintenance, run by graphile-worker's cron (one run per slot across
 * all workers). These are graphile tasks, not job types: they have no Job record.
 */
import type { Task } from "graphile-worker";
import type pg from "pg";

/** Deletes idempotency keys past their window (expired keys are already ignored at read). */
export function cleanupIdempotencyKeys(pool: pg.Pool): Task {
  return async (_payload, helpers) => {
    const { rowCount } = await pool.query("DELETE FROM idempotency_keys WHERE expires_at <= now()");
    helpers.logger.info(`deleted ${rowCount ?? 0} expired idempotency keys`);
  };
}

export const HOUSEKEEPING_CRONTAB = "*/10 * * * * cleanup_idempotency_keys ?max=1";
