/**
 * Shared SQL fragments and row types for the hot paths that bypass Prisma.
 * The NOTIFY channel is a doorbell: its payload is empty, listeners read the
 * event log by cursor (one NOTIFY per transaction, since NOTIFY serialises commits).
 */
import type pg from "pg";
import type { JobStatus } from "../../shared/states.js";

export const EVENTS_CHANNEL = "typed_jobs_events";

export type Queryable = Pick<pg.Pool | pg.PoolClient, "query">;

/**
 * graphile-worker's own attempts only matter when our wrapper itself fails to
 * record an outcome (database down): the wrapper counts the job's attempts.
 */
export const GRAPHILE_MAX_ATTEMPTS = 25;

/**
 * Queues the graphile job that runs a Job's next attempt, keyed by the job id:
 * one graphile job per Job. If the key is held by a running (locked) graphile
 * job, add_job gives the key to the new one and retires the locked one.
 */
export async function queueAttempt(
  db: Queryable,
  task: { type: string; queue?: string | undefined },
  job: { jobId: string; runAt: Date | null; priority: number },
): Promise<void> {
  await db.query(
    "SELECT graphile_worker.add_job($1, json_build_object('jobId', $2::text), $3, coalesce($4, now()), $5, $2::text, $6)",
    [task.type, job.jobId, task.queue ?? null, job.runAt, GRAPHILE_MAX_ATTEMPTS, job.priority],
  );
}

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
