/**
 * Shared SQL fragments and row types for the hot paths that bypass Prisma.
 * The NOTIFY channel is a doorbell: its payload is empty, listeners read the
 * event log by cursor (one NOTIFY per transaction, since NOTIFY serialises commits).
 */
import type pg from "pg";
import type { JobStatus } from "../../shared/states.js";

export const EVENTS_CHANNEL = "typed_jobs_events";

export type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

/** A jobs row as returned by `RETURNING *` (snake_case, as stored). */
export interface JobRow {
  id: string;
  owner_id: string;
  type: string;
  payload: unknown;
  status: JobStatus;
  attempt: number;
  max_attempts: number;
  fence: string;
  progress: Record<string, unknown> | null;
  result: unknown;
  error: string | null;
  error_stack: string | null;
  dlq_reason: string | null;
  discarded_at: Date | null;
  run_at: Date;
  priority: number;
  idempotency_key: string | null;
  payload_fingerprint: string;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  completed_at: Date | null;
}
