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
 * -> succeeded). Each inserts its job_events rows in a CTE, and adds its
 * changes to job_counts in another (countChanges).
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

/** The stripe of job_counts a statement writes: its transaction's id modulo 16 (see countChanges). */
const JOB_COUNTS_STRIPE = "(pg_current_xact_id()::text::bigint % 16)::smallint";

/**
 * A CTE's statement adding a statement's changes to job_counts. `deltas` is a
 * SELECT of (owner_id, job_type, status, delta) rows: +1 for each job entering
 * a status, -1 for each leaving one. They are summed per row first, so a
 * statement upserts each (owner, type, status) once, and not at all when its
 * changes cancel out (a batch's starts and successes of one type, on
 * "running"); in key order, so that two statements lock shared rows in one
 * order. The rows are those of the transaction's stripe (its id modulo 16):
 * an upserted row stays locked until its writer commits, and the statements
 * in flight together (the worker's two batches, concurrent enqueues) began
 * their transactions close together, so they mostly write different rows.
 * Readers sum the stripes.
 */
export function countChanges(deltas: string): string {
  return `INSERT INTO job_counts (owner_id, job_type, status, stripe, n)
    SELECT owner_id, job_type, status, ${JOB_COUNTS_STRIPE}, sum(delta)
      FROM (${deltas}) AS d(owner_id, job_type, status, delta)
     GROUP BY owner_id, job_type, status HAVING sum(delta) <> 0 ORDER BY owner_id, job_type, status
    ON CONFLICT (owner_id, job_type, status, stripe) DO UPDATE SET n = job_counts.n + EXCLUDED.n`;
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
  const guard = where.join(" AND ");
  // job_counts needs the status the job leaves, and RETURNING shows only the new row: with
  // several possible sources, the row is read first under the lock its UPDATE takes anyway.
  const several = from.length > 1;
  const left = several
    ? "SELECT j.owner_id, j.type, old.old_status, -1 FROM j JOIN old ON old.old_id = j.id"
    : "SELECT owner_id, type, ($3::text[])[1], -1 FROM j";
  const sql = `
    WITH ${several ? `old AS (SELECT id AS old_id, status AS old_status FROM jobs WHERE ${guard} FOR NO KEY UPDATE), ` : ""}j AS (
      UPDATE jobs SET status = $2, updated_at = now()${assignments.map((a) => `, ${a}`).join("")}
       ${several ? "FROM old WHERE jobs.id = old.old_id AND" : "WHERE"} ${guard}
      RETURNING jobs.*
    ), e AS (
      INSERT INTO job_events (job_id, owner_id, job_type, kind, status, attempt, error, reason, progress, next_run_at)
      SELECT id, owner_id, type, ${kind}, status, attempt, ${error}, ${reason}, ${progress}::jsonb, ${nextRunAt}::timestamptz FROM j
    ), c AS (
      ${countChanges(`SELECT owner_id, type, status, 1 FROM j UNION ALL ${left}`)}
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
