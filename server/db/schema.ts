/**
 * The database's contract for the hand-written SQL that bypasses Prisma: the
 * row shapes it reads and the names of the NOTIFY channels. The events
 * channel is a doorbell: its payload is empty, and listeners read the event
 * log by cursor (server/lifecycle/doorbell.ts rings it). The cancel channel
 * carries the id of a job cancelled while running (server/worker/cancellations.ts).
 */
import type pg from "pg";
import type { JobStatus } from "../../shared/states.js";

export const EVENTS_CHANNEL = "typed_jobs_events";
export const CANCEL_CHANNEL = "typed_jobs_cancel";

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
  /** The workflow this job is a step of (server/workflows/), if any. */
  workflow_id: string | null;
}
