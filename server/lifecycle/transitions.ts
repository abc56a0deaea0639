/**
 * server/lifecycle/ owns every write of job state: each UPDATE of a job's
 * status or fence and each job_events insert is here, and nowhere else.
 * It must not import the worker or the HTTP faces; they call it.
 *
 * This file: the guarded transition. One UPDATE guarded by the legal source
 * states (from shared/states.ts) and, for a worker's writes, the attempt's
 * fencing token; the event row goes in the same statement. A guard that
 * matches no row means an illegal or stale write, reported to the caller,
 * never a silent overwrite.
 *
 * These statements do not ring the events doorbell: the lifecycle operation
 * that runs them rings once its write has committed (doorbell.ts). Status
 * changes happen in three statements only: this one, INSERT_JOBS_SQL
 * (enqueue.ts, -> pending) and writeBatch (batched-writes.ts, -> running,
 * -> succeeded). Each inserts its job_events rows in a CTE; a counter table
 * per owner, type and status would be kept by one more CTE in each of those
 * three.
 */
import type { DlqReason, JobStatus } from "../../shared/states.js";
import { statusesLeadingTo } from "../../shared/states.js";
import type { JobRow, Queryable } from "../db/schema.js";

export interface TransitionSpec {
  jobId: string;
  to: JobStatus;
  /** Source states; defaults to every state that may legally lead to `to`. */
  from?: readonly JobStatus[];
  /** Only the attempt holding this token may write (worker writes). */
  fence?: string;
  /** Only this owner's job (user actions); undefined for admins and workers. */
  ownerId?: string | undefined;
  /** Extra assignments: column name -> SQL expression using $n placeholders from `params`. */
  set?: Record<string, string>;
  params?: unknown[];
  event: {
    kind?: "transition" | "progress";
    error?: string | null;
    reason?: DlqReason | null;
    progress?: unknown;
    nextRunAt?: Date | null;
  };
}

/**
 * Applies one transition and records its event. Returns the updated row, or
 * undefined when the guard matched nothing (wrong state, stale fence, not found).
 */
export async function applyTransition(db: Queryable, spec: TransitionSpec): Promise<JobRow | undefined> {
  const from = spec.from ?? statusesLeadingTo(spec.to);
  const params: unknown[] = [spec.jobId, spec.to, from, ...(spec.params ?? [])];
  const next = (value: unknown) => {
    params.push(value);
    return `$${params.length}`;
  };
  // `set` expressions reference $4.. (their own params, appended right after the fixed three).
  const assignments = Object.entries(spec.set ?? {}).map(([column, expr]) => `${column} = ${expr}`);
  const where = ["id = $1", "status = ANY($3::text[])"];
  if (spec.fence !== undefined) where.push(`fence = ${next(spec.fence)}::bigint`);
  if (spec.ownerId !== undefined) where.push(`owner_id = ${next(spec.ownerId)}::uuid`);
  const kind = next(spec.event.kind ?? "transition");
  const error = next(spec.event.error ?? null);
  const reason = next(spec.event.reason ?? null);
  const progress = next(spec.event.progress === undefined ? null : JSON.stringify(spec.event.progress));
  const nextRunAt = next(spec.event.nextRunAt ?? null);
  const sql = `
    WITH j AS (
      UPDATE jobs SET status = $2, updated_at = now()${assignments.map((a) => `, ${a}`).join("")}
       WHERE ${where.join(" AND ")}
      RETURNING *
    ), e AS (
      INSERT INTO job_events (job_id, owner_id, job_type, kind, status, attempt, error, reason, progress, next_run_at)
      SELECT id, owner_id, type, ${kind}, status, attempt, ${error}, ${reason}, ${progress}::jsonb, ${nextRunAt}::timestamptz FROM j
    )
    SELECT * FROM j`;
  const { rows } = await db.query<JobRow>(sql, params);
  return rows[0];
}

/** Reads a job's current status (unscoped), to explain why a guarded write matched nothing. */
export async function currentStatus(db: Queryable, jobId: string, ownerId?: string): Promise<JobStatus | undefined> {
  const { rows } = await db.query<{ status: JobStatus }>(
    `SELECT status FROM jobs WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2::uuid)`,
    [jobId, ownerId ?? null],
  );
  return rows[0]?.status;
}
