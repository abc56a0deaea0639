/**
 * The moves of an attempt between the states attempt.ts names: runAttempt
 * takes one graphile job of a Job from queued to done. The writes are in
 * server/lifecycle/attempts.ts; here is only when and why.
 *
 *   start     queued -> starting -> running: the start write (an earlier
 *             attempt still "running" with no process behind it is recorded
 *             as crashed first); a job not startable goes straight to done
 *   progress  running: ProgressWriter (a stale attempt is aborted)
 *   success   running -> recording -> done: a plain job's success lands after
 *             the graphile slot is given back; a workflow step's before
 *   failure   running -> recording -> done: retried later or dead-lettered (outcome.ts)
 *   timeout   running: the soft limit aborts the signal; the hard limit
 *             abandons the handler, a failure like any other
 *   crash     a crash of this process is recorded by another's sweep
 *             (heartbeat.ts); the next attempt here may find and record one
 *   shutdown  queued -> done (ShutdownError, graphile keeps its job); past the
 *             grace period a running attempt is aborted, and its failure is
 *             recorded like any other (retried, or dead-lettered on its last attempt)
 *   cancel    starting|running: aborted with CancelledError; nothing more is
 *             written (the cancel already was)
 */
import type { JobType } from "../../shared/jobs.js";
import { retryWhileUnavailable } from "../db/unavailable.js";
import { PermanentError } from "../errors.js";
import { type AttemptRow, recordCrashedAttempt, type SuccessExtras, startAttempt } from "../lifecycle/attempts.js";
import { currentStatus } from "../lifecycle/transitions.js";
import type { Logger } from "../logger.js";
import type { TaskDefinition, TaskServices } from "../tasks/types.js";
import { type Attempt, type AttemptTable, ShutdownError, TimeLimitError } from "./attempt.js";
import { settleFailure, settleSuccess, waiting } from "./outcome.js";
import { ProgressWriter } from "./progress.js";

export interface AttemptDeps {
  services: TaskServices;
  logger: Logger;
  /** This process's attempts (attempt.ts): cancel, shutdown and the graphile pool's recovery read it. */
  attempts: AttemptTable;
  /** This worker process (see heartbeat.ts), recorded on the job while its attempt runs. */
  processId?: string | undefined;
  /**
   * A plain job's success is recorded after graphile-worker has its slot back
   * (the runner). Without it (tests that drive runAttempt alone), runAttempt
   * resolves once the success is recorded.
   */
  recordSuccessAfterSlot?: boolean;
  /** Aborted when the worker stops taking jobs and its grace period is over. */
  shutdown?: AbortSignal | undefined;
}

/** Successes waiting to be recorded before this process takes no more (a slow database holds the worker back). */
const MAX_RECORDING_AFTER_SLOT = 1000;

type Outcome = { ok: true; result: unknown } | { ok: false; error: unknown };

/**
 * Runs one attempt of `jobId`, one at a time per job in this process: an
 * attempt queued behind an earlier one of the same job starts from what the
 * database says once that one is done, never by taking it for a crash, nor
 * by dropping the job. Throws ShutdownError if the worker stops meanwhile, and
 * rethrows a failure to record the start or a failure (graphile-worker then
 * retries). A handler abandoned at its hard time limit is not waited for: its
 * late writes are refused by the fence.
 */
export async function runAttempt(deps: AttemptDeps, task: TaskDefinition<JobType>, jobId: string): Promise<void> {
  const attempt = deps.attempts.add(jobId);
  try {
    if (attempt.earlier) await untilEither(attempt.earlier.done, deps.shutdown);
    if (deps.shutdown?.aborted) throw new ShutdownError();
    await startAndRun(deps, task, attempt);
  } finally {
    // A success recorded after the slot was given back moves to done when it lands.
    if (!attempt.slotFreed) attempt.moveTo("done");
  }
}

async function startAndRun(deps: AttemptDeps, task: TaskDefinition<JobType>, attempt: Attempt): Promise<void> {
  const baseLog = deps.logger.child({ jobId: attempt.jobId, type: task.type });
  attempt.moveTo("starting");
  const job = await retryWhileUnavailable(() => start(deps, attempt.jobId, baseLog), waiting(baseLog));
  if (!job) return;
  attempt.moveTo("running");
  const log = baseLog.child({ attempt: job.attempt });
  log.debug({ state: "running" }, "attempt started");
  const progress = new ProgressWriter(deps.services.pool, attempt, job.fence, task.schema.progress, log);
  let outcome = await runHandler(deps, task, attempt, job, progress, log);
  // Still running: a progress write in flight may find the attempt stale and abort it.
  const lastProgress = await progress.takeLast();
  const { signal } = attempt.controller;
  if (outcome.ok) {
    const result = task.schema.result.safeParse(outcome.result);
    if (result.success) {
      attempt.moveTo("recording");
      const receipt = task.keepsReceipt ? result.data : undefined;
      return recordSuccessMove(deps, task, attempt, job, result.data, { progress: lastProgress, receipt }, log);
    }
    const error = new PermanentError(`Result does not match the ${task.type} schema: ${result.error.message}`);
    outcome = { ok: false, error };
  }
  // Progress reported before the failure is written first, so events stay in order.
  if (lastProgress) await progress.writeNow(lastProgress);
  attempt.moveTo("recording");
  const { error } = outcome;
  await retryWhileUnavailable(() => settleFailure(deps.services, task, job, error, signal, log), waiting(log));
}

/**
 * recording -> done for a success. A workflow step's success releases its next
 * steps, so the slot waits for it. A plain job's success is recorded after
 * graphile-worker has its slot back, so a slot waits for one commit per job
 * (the start), not two. This is safe because "running", with this process's
 * id, is already durable: if the process dies before the success commits, the
 * heartbeat sweep records the attempt as crashed and queues it again, as for
 * a crash mid-handler (at least once).
 */
async function recordSuccessMove(
  deps: AttemptDeps,
  task: TaskDefinition<JobType>,
  attempt: Attempt,
  job: AttemptRow,
  result: unknown,
  extras: SuccessExtras,
  log: Logger,
): Promise<void> {
  const settled = settleSuccess(deps.services, task, job, result, extras, attempt.controller.signal, log);
  if (job.workflow_id || !deps.recordSuccessAfterSlot) return settled;
  deps.attempts.freeSlot(attempt);
  void settled.finally(() => attempt.moveTo("done"));
  for (let behind = deps.attempts.recordingAfterSlot(); behind.length > MAX_RECORDING_AFTER_SLOT; ) {
    await Promise.race(behind.map((earlier) => earlier.done));
    behind = deps.attempts.recordingAfterSlot();
  }
}

/** starting: the start write, recording a crashed previous attempt first if there is one. */
async function start(deps: AttemptDeps, jobId: string, log: Logger): Promise<AttemptRow | undefined> {
  const { pool } = deps.services;
  const processId = deps.processId ?? null;
  for (let tries = 0; tries < 3; tries++) {
    // The first try joins this process's batch of starts; a retry after a crash record goes alone.
    const row = await startAttempt(pool, jobId, processId, { alone: tries > 0 });
    if (row) return row;
    const status = await currentStatus(pool, jobId);
    if (status !== "running") {
      log.info({ state: status ?? "missing" }, "job not runnable; skipping");
      return undefined;
    }
    // Still "running": the process running the previous attempt died without
    // recording an outcome. Record it as crashed, then start afresh at once.
    const crashed = await recordCrashedAttempt(pool, jobId);
    log.warn({ state: crashed?.status }, "previous attempt crashed");
    if (crashed?.status !== "retrying") return undefined;
  }
  return undefined;
}

/**
 * running: the handler, with its payload checked again, its soft time limit
 * (the signal) and its hard one (abandoned). Never rejects: a thrown error is
 * the failed outcome.
 */
async function runHandler(
  deps: AttemptDeps,
  task: TaskDefinition<JobType>,
  attempt: Attempt,
  job: AttemptRow,
  progress: ProgressWriter,
  log: Logger,
): Promise<Outcome> {
  const { softMs, hardMs } = task.timeouts;
  const timers: NodeJS.Timeout[] = [];
  try {
    const payload = task.schema.payload.safeParse(job.payload);
    if (!payload.success) {
      throw new PermanentError(`Stored payload no longer matches the ${task.type} schema: ${payload.error.message}`);
    }
    timers.push(setTimeout(() => attempt.abort(new TimeLimitError("soft", softMs)), softMs));
    const hardLimit = new Promise<Outcome>((resolve) => {
      timers.push(
        setTimeout(() => {
          const error = new TimeLimitError("hard", hardMs);
          attempt.abort(error);
          resolve({ ok: false, error });
        }, hardMs),
      );
    });
    const handler = task
      .run({
        jobId: attempt.jobId,
        attempt: job.attempt,
        payload: payload.data,
        signal: attempt.controller.signal,
        progress: progress.report,
        receipt: receiptOf(task, job, log),
        logger: log,
        services: deps.services,
      } as Parameters<typeof task.run>[0])
      .then(
        (result): Outcome => ({ ok: true, result }),
        (error: unknown): Outcome => ({ ok: false, error }),
      );
    return await Promise.race([handler, hardLimit]);
  } catch (error) {
    return { ok: false, error };
  } finally {
    for (const timer of timers) clearTimeout(timer);
  }
}

/** The receipt an earlier attempt kept, if it still matches the result schema. */
function receiptOf(task: TaskDefinition<JobType>, job: AttemptRow, log: Logger): unknown {
  if (job.receipt === null || job.receipt === undefined) return undefined;
  const parsed = task.schema.result.safeParse(job.receipt);
  if (parsed.success) return parsed.data;
  log.warn({ issues: parsed.error.issues }, "kept receipt does not match the result schema; ignored");
  return undefined;
}

/** Resolves when `promise` settles or `signal` aborts, leaving no listener behind on the long-lived signal. */
async function untilEither(promise: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return promise;
  let onAbort = () => {};
  const aborted = new Promise<void>((resolve) => {
    onAbort = resolve;
  });
  if (signal.aborted) return;
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    await Promise.race([promise, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
