/**
 * The webhook_attempts log: one row per delivery attempt, written before the
 * attempt's outcome is recorded. Concurrent deliveries of a process share one
 * INSERT and one commit (group commit, db/batcher.ts) instead of a commit each.
 */
import type pg from "pg";
import { Batcher } from "../db/batcher.js";
import { perPool } from "../db/pool.js";
import { isDatabaseUnavailable } from "../db/unavailable.js";

export interface DeliveryAttempt {
  jobId: string;
  attempt: number;
  url: string;
  statusCode: number | null;
  durationMs: number;
  error: string | null;
  responseExcerpt: string | null;
}

const logFor = perPool(
  (pool) =>
    new Batcher<DeliveryAttempt, void>(
      async (rows) => {
        await pool.query({
          name: "typed_jobs_log_webhook_attempts",
          text: `INSERT INTO webhook_attempts (job_id, attempt, url, status_code, duration_ms, error, response_excerpt)
                 SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::int[], $5::int[], $6::text[], $7::text[])`,
          values: [
            rows.map((r) => r.jobId),
            rows.map((r) => r.attempt),
            rows.map((r) => r.url),
            rows.map((r) => r.statusCode),
            rows.map((r) => r.durationMs),
            rows.map((r) => r.error),
            rows.map((r) => r.responseExcerpt),
          ],
        });
        return rows.map(() => undefined);
      },
      // A row the database refuses (say, a NUL in an excerpt) fails only its own delivery.
      { slots: 2, retryAlone: (error) => !isDatabaseUnavailable(error) },
    ),
);

/** Logs one delivery attempt in this process's next batch; resolves once it has committed. */
export function logDeliveryAttempt(pool: pg.Pool, row: DeliveryAttempt): Promise<void> {
  return logFor(pool).submit(row);
}
