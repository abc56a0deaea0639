/**
 * What an attempt in `recording` writes (see attempt.ts): its success, or a
 * failure, which is a retry later, a dead letter, or nothing at all when the
 * job has moved on. The writes themselves are server/lifecycle/attempts.ts;
 * here is the choice between them.
 */
import type { JobType } from "../../shared/jobs.js";
import type { DlqReason } from "../../shared/states.js";
import { isDataException, retryWhileUnavailable } from "../db/unavailable.js";
import { PermanentError, TransientError } from "../errors.js";
import {
  type AttemptRow,
  recordCrashedAttempt,
  recordFailure,
  recordRetry,
  recordSuccess,
  type SuccessExtras,
} from "../lifecycle/attempts.js";
import { currentStatus } from "../lifecycle/transitions.js";
import type { Logger } from "../logger.js";
import { backoffDelayMs, type TaskDefinition, type TaskServices } from "../tasks/types.js";
import { CancelledError, StaleAttemptError, TimeLimitError } from "./attempt.js";

/** Logs once per wait while the database is unreachable. */
export function waiting(log: Logger) {
  return (error: unknown) =>
    log.warn({ err: (error as Error).message }, "database unreachable; will record the attempt when it is back");
}

/**
 * Records a success, waiting out an unreachable database. A write the database
 * refuses (say, a result it cannot store) fails the attempt instead. Never rejects.
 */
export async function settleSuccess(
  services: TaskServices,
  task: TaskDefinition<JobType>,
  job: AttemptRow,
  result: unknown,
  extras: SuccessExtras,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const { pool } = services;
  try {
    const recorded = await retryWhileUnavailable(() => recordSuccess(pool, job, result, extras), waiting(log));
    if (recorded) log.debug({ state: "succeeded" }, "attempt succeeded");
    else log.warn({ state: await currentStatus(pool, job.id) }, "result of a stale attempt dropped");
  } catch (error) {
    log.error({ err: (error as Error).message }, "result not recorded; the attempt counts as failed");
    // A value Postgres refuses to store (SQLSTATE class 22, say a NUL in a
    // string) would be refused again: running the handler again would only
    // repeat its side effects, so the job fails at once.
    const refused = isDataException(error)
      ? new PermanentError(`The result could not be stored: ${(error as Error).message}`)
      : error;
    await retryWhileUnavailable(() => settleFailure(services, task, job, refused, signal, log), waiting(log)).catch(
      async (error: Error) => {
        // Its graphile job is done, so nothing else would run it again: record a crash, queued afresh.
        log.error({ err: error.message }, "attempt outcome not recorded; recording it as crashed");
        await recordCrashedAttempt(pool, job.id, { requeue: true }).catch((last: Error) =>
          log.error({ err: last.message }, "attempt left running"),
        );
      },
    );
  }
}

/**
 * Records a failed attempt: nothing if it was cancelled or went stale (the job
 * moved on); into the dead letters on a PermanentError or the last attempt
 * (reason permanent_error, timeout or retries_exhausted); else retried after
 * its backoff, or a server's Retry-After if later. Throws if the write fails.
 */
export async function settleFailure(
  services: TaskServices,
  task: TaskDefinition<JobType>,
  job: AttemptRow,
  thrown: unknown,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const { pool } = services;
  // A handler stopped by its abort signal usually throws an AbortError; the
  // signal's reason says why it was aborted.
  const error =
    thrown instanceof TimeLimitError || thrown instanceof PermanentError || !signal.aborted ? thrown : signal.reason;
  const err = error instanceof Error ? error : new Error(String(error));
  if (err instanceof StaleAttemptError || err instanceof CancelledError) {
    log.warn({ state: await currentStatus(pool, job.id) }, "attempt stopped: the job moved on");
    return;
  }
  const isTimeout = err instanceof TimeLimitError;
  // The job's own max_attempts, fixed at enqueue (a deploy that changes the task's default does not reach it).
  const lastAttempt = job.attempt >= job.max_attempts;
  let reason: DlqReason | undefined;
  if (err instanceof PermanentError) reason = "permanent_error";
  else if (lastAttempt) reason = isTimeout ? "timeout" : "retries_exhausted";

  if (reason) {
    const row = await recordFailure(pool, job, { reason, error: err.message, stack: err.stack ?? null });
    if (row) log.error({ state: "failed", reason, err: err.message }, "job failed into the dead-letter queue");
    else log.warn("failure of a stale attempt dropped");
    return;
  }

  // A server's Retry-After is honoured: never sooner than it asks (capped at a day).
  const retryAfterMs = err instanceof TransientError ? Math.min(err.retryAfterMs ?? 0, 24 * 3600_000) : 0;
  const nextRunAt = new Date(Date.now() + Math.max(backoffDelayMs(task.backoff, job.attempt), retryAfterMs));
  const row = await recordRetry(pool, task, job, { error: err.message, stack: err.stack ?? null, nextRunAt });
  if (row) log.warn({ state: "retrying", err: err.message, nextRunAt }, "attempt failed; will retry");
  else log.warn("failure of a stale attempt dropped");
}
