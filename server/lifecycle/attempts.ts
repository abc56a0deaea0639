/**
 * An attempt's writes, for the worker: start, progress, succeed, fail into the
 * dead-letter queue, retry later, and record a crash. The worker decides which
 * (server/worker/run-attempt.ts, outcome.ts); this file only writes. Every write after the
 * start carries the attempt's fencing token, so a late write from an attempt
 * the job has moved on from matches nothing and is dropped; each rings the
 * doorbell once it has committed.
 */
import type pg from "pg";
import { isJobType } from "../../shared/jobs.js";
import type { DlqReason } from "../../shared/states.js";
import { withTransaction } from "../db/pool.js";
import type { JobRow } from "../db/schema.js";
import { taskFor } from "../tasks/index.js";
import {
  type AttemptRow,
  recordProgressBatched,
  recordSuccessBatched,
  type SuccessExtras,
  startAttemptBatched,
  writeBatch,
} from "./batched-writes.js";
import { ringAfter } from "./doorbell.js";
import { queueAttempt } from "./graphile-jobs.js";
import { applyTransition } from "./transitions.js";
import { settleJob } from "./workflows.js";

export type { AttemptRow, SuccessExtras };

/**
 * Starts the next attempt of `jobId` (pending|retrying -> running, attempt and
 * fence bumped, this process recorded on the job). Joins this process's batch
 * of starts, unless `alone` (a retry right after recording a crash). Undefined:
 * the job is not startable (not pending or retrying, or not yet due).
 */
export async function startAttempt(
  pool: pg.Pool,
  jobId: string,
  processId: string | null,
  options: { alone?: boolean } = {},
): Promise<AttemptRow | undefined> {
  if (!options.alone) return startAttemptBatched(pool, jobId, processId);
  // The batch's own statement, with one request: one version of the start write.
  const [row] = await writeBatch(pool, [{ kind: "start", jobId, processId }]);
  return row as AttemptRow | undefined;
}

/**
 * Saves a progress report for the running attempt holding `fence`, in this
 * process's next batch of writes. False when the attempt is stale (the job
 * moved on), so the caller can stop.
 */
export function recordProgress(
  pool: pg.Pool,
  jobId: string,
  fence: string,
  progress: Record<string, unknown>,
): Promise<boolean> {
  return recordProgressBatched(pool, jobId, fence, progress);
}

/**
 * Records an attempt's result, with its last progress report and the receipt
 * to keep (SuccessExtras). A plain job joins this process's batch of writes; a
 * workflow step settles in a transaction that also releases the steps waiting
 * for it (workflows.ts). False: the attempt is stale (its receipt is kept all
 * the same: what it did was done).
 */
export async function recordSuccess(
  pool: pg.Pool,
  job: AttemptRow,
  result: unknown,
  extras: SuccessExtras = {},
): Promise<boolean> {
  if (!job.workflow_id) return recordSuccessBatched(pool, job.id, job.fence, result, extras);
  // A step's success is not batched: its receipt and last progress go first, on their own.
  if (extras.receipt !== undefined) {
    await pool.query(
      "INSERT INTO job_receipts (job_id, receipt) VALUES ($1, $2::jsonb) ON CONFLICT (job_id) DO NOTHING",
      [job.id, JSON.stringify(extras.receipt)],
    );
  }
  if (extras.progress) await recordProgress(pool, job.id, job.fence, extras.progress);
  const row = await settleJob(pool, job, {
    jobId: job.id,
    to: "succeeded",
    from: ["running"],
    fence: job.fence,
    set: { result: "$4::jsonb", completed_at: "now()" },
    params: [JSON.stringify(result)],
    event: {},
  });
  return row !== undefined;
}

/**
 * Fails the attempt into the dead-letter queue; a workflow step's workflow
 * advances with it. Undefined: the attempt is stale.
 */
export function recordFailure(
  pool: pg.Pool,
  job: Pick<JobRow, "id" | "fence" | "workflow_id">,
  failure: { reason: DlqReason; error: string; stack: string | null },
): Promise<JobRow | undefined> {
  const { reason, error, stack } = failure;
  return settleJob(pool, job, {
    jobId: job.id,
    to: "failed",
    from: ["running"],
    fence: job.fence,
    set: { error: "$4", error_stack: "$5", dlq_reason: "$6", completed_at: "now()", discarded_at: "NULL" },
    params: [error, stack, reason],
    event: { error, reason },
  });
}

/**
 * Records a failed attempt that will run again at `nextRunAt`, and queues its
 * graphile job for then, in one transaction. Undefined: the attempt is stale.
 */
export function recordRetry(
  pool: pg.Pool,
  task: { type: string; queue?: string | undefined },
  job: Pick<JobRow, "id" | "fence">,
  failure: { error: string; stack: string | null; nextRunAt: Date },
): Promise<JobRow | undefined> {
  const { error, stack, nextRunAt } = failure;
  const write = withTransaction(pool, async (client) => {
    const updated = await applyTransition(client, {
      jobId: job.id,
      to: "retrying",
      from: ["running"],
      fence: job.fence,
      set: { run_at: "$4", error: "$5", error_stack: "$6" },
      params: [nextRunAt, error, stack],
      event: { error, nextRunAt },
    });
    if (updated) await queueAttempt(client, task, { jobId: job.id, runAt: nextRunAt, priority: updated.priority });
    return updated;
  });
  return ringAfter(pool, write);
}

/**
 * Records the running attempt of `jobId` as crashed: retried at once, or failed
 * with reason `crashed` on the last attempt.
 *
 * With `requeue` (the heartbeat sweep, a replaced graphile pool), the retry is
 * also queued when graphile-worker no longer holds a job for it: a plain job's
 * success is written after its graphile job completes (see worker/attempt.ts),
 * so a process that died in between left no graphile job to unlock. Without it
 * (a new attempt found the old one still running), the caller's graphile job
 * is the retry.
 */
export async function recordCrashedAttempt(
  pool: pg.Pool,
  jobId: string,
  options: { requeue?: boolean } = {},
): Promise<JobRow | undefined> {
  const { rows } = await pool.query<Pick<JobRow, "id" | "attempt" | "max_attempts" | "fence" | "workflow_id">>(
    `SELECT id, attempt, max_attempts, fence::text AS fence, workflow_id
       FROM jobs WHERE id = $1 AND status = 'running'`,
    [jobId],
  );
  const current = rows[0];
  if (!current) return undefined;
  const error = "The worker running this attempt stopped without recording an outcome (crashed)";
  if (current.attempt >= current.max_attempts) {
    return recordFailure(pool, current, { reason: "crashed", error, stack: null });
  }
  const write = withTransaction(pool, async (client) => {
    const row = await applyTransition(client, {
      jobId,
      to: "retrying",
      fence: current.fence,
      set: { run_at: "now()", error: "$4", error_stack: "NULL" },
      params: [error],
      event: { error, reason: "crashed", nextRunAt: new Date() },
    });
    if (row && options.requeue && isJobType(row.type)) {
      const { rowCount } = await client.query("SELECT 1 FROM graphile_worker.jobs WHERE key = $1", [jobId]);
      if (!rowCount) await queueAttempt(client, taskFor(row.type), { jobId, runAt: null, priority: row.priority });
    }
    return row;
  });
  return ringAfter(pool, write);
}
