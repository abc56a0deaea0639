/**
 * Operator and owner actions on a job: cancel, requeue (retry) and discard.
 * Each first resolves the job within the caller's scope (NOT_FOUND before any
 * other check), then applies a guarded transition; a guard that fails names
 * the job's state (CONFLICT).
 */
import type pg from "pg";
import { isJobType } from "../../shared/jobs.js";
import type { DlqReason, JobStatus } from "../../shared/states.js";
import { ownerScope } from "../auth/scope.js";
import type { AuthUser } from "../auth/tokens.js";
import type { Db } from "../db/pool.js";
import { withTransaction } from "../db/pool.js";
import { IllegalTransitionError, WorkflowConflictError } from "../errors.js";
import { findJob } from "../jobs/queries.js";
import { taskFor } from "../tasks/index.js";
import { ringAfter } from "./doorbell.js";
import { queueAttempt } from "./graphile-jobs.js";
import { applyTransition, currentStatus } from "./transitions.js";
import { cancelJobIn, changeStep } from "./workflows.js";

async function conflict(pool: pg.Pool, jobId: string, action: string): Promise<never> {
  const status = (await currentStatus(pool, jobId)) ?? ("unknown" as JobStatus);
  throw new IllegalTransitionError(jobId, status, action);
}

/**
 * Cancels a pending, retrying or running job. Its queued graphile job is
 * removed in the same transaction; a running attempt is told to stop through
 * a NOTIFY that reaches whichever worker process runs it.
 */
export async function cancelJob(db: Db, pool: pg.Pool, user: AuthUser, jobId: string) {
  await findJob(db, user, jobId);
  const row = await ringAfter(
    pool,
    withTransaction(pool, async (client) => {
      // A workflow's step: its workflow advances (fails, unless a chord takes the failure) in this transaction.
      return changeStep(client, jobId, () => cancelJobIn(client, jobId, ["pending", "retrying", "running"]));
    }),
  );
  if (!row) await conflict(pool, jobId, "cancel");
  return findJob(db, user, jobId);
}

/** Requeue inside a caller's transaction; undefined when the job is not failed. */
async function requeueIn(client: pg.PoolClient, jobId: string, type: string) {
  if (!isJobType(type)) throw new Error(`Job ${jobId} has unknown type ${type}`);
  const task = taskFor(type);
  const transition = () =>
    applyTransition(client, {
      jobId,
      to: "pending",
      from: ["failed"],
      set: {
        attempt: "0",
        max_attempts: "$4",
        result: "NULL",
        progress: "NULL",
        error: "NULL",
        error_stack: "NULL",
        dlq_reason: "NULL",
        discarded_at: "NULL",
        started_at: "NULL",
        completed_at: "NULL",
        run_at: "now()",
      },
      params: [task.maxAttempts],
      event: {},
    });
  // A workflow's failed step: requeuing it resumes the workflow from there.
  const updated = await changeStep(client, jobId, transition, { resume: true });
  if (updated) {
    await queueAttempt(client, task, { jobId, runAt: null, priority: updated.priority });
  }
  return updated;
}

/**
 * Requeues a failed job (jobs.retry and dlq.requeue): back to pending for a fresh
 * series of attempts. Its history stays in the event log.
 */
export async function requeueJob(db: Db, pool: pg.Pool, user: AuthUser, jobId: string) {
  const job = await findJob(db, user, jobId);
  const row = await ringAfter(
    pool,
    withTransaction(pool, (client) => requeueIn(client, jobId, job.type)),
  );
  if (!row) await conflict(pool, jobId, "requeue");
  return findJob(db, user, jobId);
}

/** Which dead-lettered jobs a bulk action covers: listed ids, or all matching a filter. */
export type DlqSelection =
  | { jobIds: string[] }
  | { filter: { type?: string | undefined; reason?: DlqReason | undefined } };

export const MAX_BULK = 10_000;

/** The caller's dead-lettered jobs in the selection (others' and non-failed jobs are skipped). */
async function selectDeadLetters(db: Db, user: AuthUser, selection: DlqSelection) {
  return db.job.findMany({
    where: {
      ownerId: ownerScope(user),
      status: "failed",
      discardedAt: null,
      ...("jobIds" in selection
        ? { id: { in: selection.jobIds } }
        : { type: selection.filter.type, dlqReason: selection.filter.reason }),
    },
    select: { id: true, type: true },
    // Workflow by workflow, then by id: bulk actions lock workflows and jobs in one order, so two cannot deadlock.
    orderBy: [{ workflowId: "asc" }, { id: "asc" }],
    take: MAX_BULK,
  });
}

/** Requeues every selected dead-lettered job in one transaction; returns the ids requeued. */
export async function requeueMany(db: Db, pool: pg.Pool, user: AuthUser, selection: DlqSelection) {
  const jobs = await selectDeadLetters(db, user, selection);
  const write = withTransaction(pool, async (client) => {
    const ids: string[] = [];
    for (const job of jobs) {
      try {
        if (await requeueIn(client, job.id, job.type)) ids.push(job.id);
      } catch (error) {
        // A step of a cancelled workflow is skipped like others' jobs; it was refused before any write.
        if (!(error instanceof WorkflowConflictError)) throw error;
      }
    }
    return ids;
  });
  const requeued = await ringAfter(pool, write);
  return { count: requeued.length, jobIds: requeued };
}

/** Discards every selected dead-lettered job; returns the ids discarded. */
export async function discardMany(db: Db, pool: pg.Pool, user: AuthUser, selection: DlqSelection) {
  const jobs = await selectDeadLetters(db, user, selection);
  const { rows } = await pool.query<{ id: string }>(
    `UPDATE jobs SET discarded_at = now(), updated_at = now()
      WHERE id = ANY($1::uuid[]) AND status = 'failed' AND discarded_at IS NULL RETURNING id`,
    [jobs.map((j) => j.id)],
  );
  return { count: rows.length, jobIds: rows.map((r) => r.id) };
}

/** Discards a dead-lettered job: it stays failed, out of the dead-letter queue (jobs.retry still works). */
export async function discardJob(db: Db, pool: pg.Pool, user: AuthUser, jobId: string) {
  const job = await findJob(db, user, jobId);
  const { rowCount } = await pool.query(
    "UPDATE jobs SET discarded_at = now(), updated_at = now() WHERE id = $1 AND status = 'failed' AND discarded_at IS NULL",
    [jobId],
  );
  if (!rowCount) {
    if (job.status === "failed") throw new IllegalTransitionError(jobId, "failed", "discard (already discarded)");
    await conflict(pool, jobId, "discard");
  }
  return findJob(db, user, jobId);
}
