/**
 * The wrapper around every task: it owns each transition of an attempt.
 *
 *   pending|retrying -> running (attempt n, new fencing token)
 *   running -> succeeded (result)            handler returned
 *   running -> retrying (error, next run)    transient error, attempts left
 *   running -> failed (dead-letter reason)   PermanentError, or the last attempt failed
 *
 * Every write after "running" carries the attempt's fencing token: once the job
 * has moved on (hard time limit, cancel, crash sweep), a late write from this
 * attempt matches nothing and is dropped.
 */
import { isJobType, type JobType } from "../../shared/jobs.js";
import type { DlqReason } from "../../shared/states.js";
import { withTransaction } from "../db/pool.js";
import type { JobRow } from "../db/schema.js";
import { isDataException, retryWhileUnavailable } from "../db/unavailable.js";
import { PermanentError, TransientError } from "../errors.js";
import { type AttemptRow, recordSuccessBatched, startAttemptBatched } from "../lifecycle/batched-writes.js";
import { queueAttempt } from "../lifecycle/graphile-jobs.js";
import { applyTransition, currentStatus, recordProgress } from "../lifecycle/transitions.js";
import { settleJob } from "../lifecycle/workflows.js";
import type { Logger } from "../logger.js";
import { taskFor } from "../tasks/index.js";
import { backoffDelayMs, type TaskDefinition, type TaskServices } from "../tasks/types.js";

const PROGRESS_INTERVAL_MS = 250;

export class TimeLimitError extends Error {
  constructor(kind: "soft" | "hard", ms: number) {
    super(`${kind === "soft" ? "Soft" : "Hard"} time limit of ${ms} ms exceeded`);
    this.name = "TimeLimitError";
  }
}

export class ShutdownError extends Error {
  constructor() {
    super("Worker shutting down: attempt interrupted");
    this.name = "ShutdownError";
  }
}

export class StaleAttemptError extends Error {
  constructor() {
    super("This attempt is stale: the job has moved on");
    this.name = "StaleAttemptError";
  }
}

export class CancelledError extends Error {
  constructor() {
    super("Cancelled while running");
    this.name = "CancelledError";
  }
}

export interface AttemptDeps {
  services: TaskServices;
  logger: Logger;
  /** Attempts in flight in this process, by job id, so shutdown and cancellation can abort them. */
  inFlight: Map<string, AbortController>;
  /** This worker process (see heartbeat.ts), recorded on the job while its attempt runs. */
  processId?: string | undefined;
  /**
   * Successes being recorded after their attempt gave graphile-worker its slot
   * back, by job id: shutdown waits for them, and a restarted graphile pool
   * does not take their jobs for crashed. Without it (tests that drive
   * runAttempt alone), runAttempt resolves once the success is recorded.
   */
  settling?: Map<string, Promise<void>>;
  /**
   * This process's attempts, by job id, from before their start until their
   * outcome is recorded (a success written after the slot was freed
   * included). A second attempt of the same job here waits for the first,
   * and a replaced graphile pool does not take these jobs for crashed.
   */
  active: Map<string, Promise<void>>;
  /** Aborted when the worker stops taking jobs and its grace period is over. */
  shutdown?: AbortSignal | undefined;
}

/** Successes waiting to be recorded before this process takes no more (a slow database holds the worker back). */
const MAX_SETTLING = 1000;

/** Starts the next attempt, recording a crashed previous attempt first if there is one. */
async function startAttempt(deps: AttemptDeps, jobId: string, log: Logger): Promise<AttemptRow | undefined> {
  const { pool } = deps.services;
  for (let tries = 0; tries < 3; tries++) {
    // The first try joins this process's batch of starts; a retry after a crash record goes alone.
    const row =
      tries === 0
        ? await startAttemptBatched(pool, jobId, deps.processId ?? null)
        : await applyTransition(pool, {
            jobId,
            to: "running",
            from: ["pending", "retrying"],
            set: {
              attempt: "attempt + 1",
              fence: "fence + 1",
              started_at: "now()",
              progress: "NULL",
              error: "NULL",
              error_stack: "NULL",
              worker_process_id: "$4::uuid",
            },
            params: [deps.processId ?? null],
            event: {},
          });
    if (row) return row;
    const status = await currentStatus(pool, jobId);
    if (status !== "running") {
      log.info({ state: status ?? "missing" }, "job not runnable; skipping");
      return undefined;
    }
    // Still "running": the process running the previous attempt died without
    // recording an outcome. Record it as crashed, then start afresh at once.
    const crashed = await recordCrashedAttempt(deps.services, jobId);
    log.warn({ state: crashed?.status }, "previous attempt crashed");
    if (crashed?.status !== "retrying") return undefined;
  }
  return undefined;
}

/**
 * Records the running attempt of `jobId` as crashed: retried at once, or failed
 * with reason `crashed` on the last attempt.
 *
 * With `requeue` (the heartbeat sweep, a replaced graphile pool), the retry is
 * also queued when graphile-worker no longer holds a job for it: a plain job's
 * success is written after its graphile job completes (see runAttempt), so a
 * process that died in between left no graphile job to unlock. Without it (a
 * new attempt found the old one still running), the caller's graphile job is
 * the retry.
 */
export async function recordCrashedAttempt(
  services: Pick<TaskServices, "pool">,
  jobId: string,
  options: { requeue?: boolean } = {},
): Promise<JobRow | undefined> {
  const { pool } = services;
  const { rows } = await pool.query<Pick<JobRow, "id" | "attempt" | "max_attempts" | "fence" | "workflow_id">>(
    `SELECT id, attempt, max_attempts, fence::text AS fence, workflow_id
       FROM jobs WHERE id = $1 AND status = 'running'`,
    [jobId],
  );
  const current = rows[0];
  if (!current) return undefined;
  const error = "The worker running this attempt stopped without recording an outcome (crashed)";
  if (current.attempt >= current.max_attempts) {
    return fail(pool, current, "crashed", error, null);
  }
  return withTransaction(pool, async (client) => {
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
}

/** Fails the attempt into the dead-letter queue; a workflow step's workflow advances with it. */
function fail(
  pool: TaskServices["pool"],
  job: Pick<JobRow, "id" | "fence" | "workflow_id">,
  reason: DlqReason,
  error: string,
  stack: string | null,
) {
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
 * Records an attempt's result. A plain job joins this process's batch of
 * writes; a workflow step settles in a transaction that also releases the
 * steps waiting for it (server/lifecycle/workflows.ts).
 */
export async function recordSuccess(pool: TaskServices["pool"], job: AttemptRow, result: unknown): Promise<boolean> {
  if (!job.workflow_id) return recordSuccessBatched(pool, job.id, job.fence, result);
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

/** Logs once per wait while the database is unreachable. */
function waiting(log: Logger) {
  return (error: unknown) =>
    log.warn({ err: (error as Error).message }, "database unreachable; will record the attempt when it is back");
}

/**
 * Runs one attempt of `jobId`, one at a time per job in this process. A
 * second graphile job for a job this process is still running or recording
 * (a batch that handed it out twice, a lock released by a replaced graphile
 * pool or a sweep) waits for that attempt's outcome to be recorded, then
 * starts from what the database says: never from taking the first for a
 * crash, nor by dropping the job. Throws ShutdownError if the worker stops
 * meanwhile, so graphile-worker keeps its job. (A handler abandoned at its
 * hard time limit is not waited for: its attempt is recorded as failed, and
 * its late writes are refused by the fence.)
 */
export async function runAttempt(deps: AttemptDeps, task: TaskDefinition<JobType>, jobId: string): Promise<void> {
  const { shutdown } = deps;
  for (let earlier = deps.active.get(jobId); earlier; ) {
    await untilEither(earlier, shutdown);
    if (shutdown?.aborted) throw new ShutdownError();
    // Another waiter may have gone first; an entry already settled is over.
    const next = deps.active.get(jobId);
    earlier = next === earlier ? undefined : next;
  }
  let recorded!: () => void;
  const entry = new Promise<void>((resolve) => {
    recorded = resolve;
  });
  deps.active.set(jobId, entry);
  try {
    await attemptOnce(deps, task, jobId);
  } finally {
    const release = () => {
      if (deps.active.get(jobId) === entry) deps.active.delete(jobId);
      recorded();
    };
    // A plain job's success may still be on its way (see attemptOnce): the entry lasts until it lands.
    const success = deps.settling?.get(jobId);
    if (success) void success.finally(release);
    else release();
  }
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

/**
 * One attempt. With `deps.settling`, a plain job's success may still be on its
 * way to the database when this resolves (see below). Throws only when
 * recording a start or a failure failed (graphile-worker then retries).
 */
async function attemptOnce(deps: AttemptDeps, task: TaskDefinition<JobType>, jobId: string): Promise<void> {
  const { pool } = deps.services;
  const baseLog = deps.logger.child({ jobId, type: task.type });
  if (deps.shutdown?.aborted) throw new ShutdownError();
  // Registered before the start, so a cancel that lands while the attempt
  // starts reaches its handler (cancellations.ts) instead of finding nothing.
  const controller = new AbortController();
  deps.inFlight.set(jobId, controller);
  let job: AttemptRow | undefined;
  try {
    job = await retryWhileUnavailable(() => startAttempt(deps, jobId, baseLog), waiting(baseLog));
  } finally {
    if (!job && deps.inFlight.get(jobId) === controller) deps.inFlight.delete(jobId);
  }
  if (!job) return;
  const { attempt, fence } = job;
  const log = baseLog.child({ attempt });
  log.info({ state: "running" }, "attempt started");

  const timers: NodeJS.Timeout[] = [];
  let progressWrites = Promise.resolve();
  let lastProgressAt = 0;
  let pendingProgress: Record<string, unknown> | undefined;
  let progressTimer: NodeJS.Timeout | undefined;

  const writeProgress = () => {
    const report = pendingProgress;
    pendingProgress = undefined;
    progressTimer = undefined;
    if (!report) return;
    lastProgressAt = Date.now();
    progressWrites = progressWrites
      .then(() => recordProgress(pool, jobId, fence, report))
      .then((current) => {
        if (!current && !controller.signal.aborted) controller.abort(new StaleAttemptError());
      })
      .catch((error: Error) => log.warn({ err: error.message }, "progress not saved"));
  };

  const progress = (report: unknown) => {
    const parsed = task.schema.progress.safeParse(report);
    if (!parsed.success) {
      log.warn({ issues: parsed.error.issues }, "progress report does not match the schema; dropped");
      return;
    }
    pendingProgress = parsed.data;
    if (progressTimer) return;
    const wait = Math.max(0, lastProgressAt + PROGRESS_INTERVAL_MS - Date.now());
    if (wait === 0) writeProgress();
    else progressTimer = setTimeout(writeProgress, wait);
  };

  type Outcome = { ok: true; result: unknown } | { ok: false; error: unknown };
  let outcome: Outcome;
  try {
    const payload = task.schema.payload.safeParse(job.payload);
    if (!payload.success) {
      throw new PermanentError(`Stored payload no longer matches the ${task.type} schema: ${payload.error.message}`);
    }
    timers.push(
      setTimeout(() => controller.abort(new TimeLimitError("soft", task.timeouts.softMs)), task.timeouts.softMs),
    );
    const hardLimit = new Promise<Outcome>((resolve) => {
      timers.push(
        setTimeout(() => {
          const error = new TimeLimitError("hard", task.timeouts.hardMs);
          if (!controller.signal.aborted) controller.abort(error);
          resolve({ ok: false, error });
        }, task.timeouts.hardMs),
      );
    });
    const handler = task
      .run({
        jobId,
        attempt,
        payload: payload.data,
        signal: controller.signal,
        progress,
        logger: log,
        services: deps.services,
      } as Parameters<typeof task.run>[0])
      .then(
        (result): Outcome => ({ ok: true, result }),
        (error: unknown): Outcome => ({ ok: false, error }),
      );
    outcome = await Promise.race([handler, hardLimit]);
  } catch (error) {
    outcome = { ok: false, error };
  } finally {
    for (const timer of timers) clearTimeout(timer);
    if (deps.inFlight.get(jobId) === controller) deps.inFlight.delete(jobId);
  }

  // Progress reported before the outcome is written first, so events stay in order.
  clearTimeout(progressTimer);
  writeProgress();
  await progressWrites;

  if (outcome.ok) {
    const result = task.schema.result.safeParse(outcome.result);
    if (result.success) {
      const settled = settleSuccess(deps, task, job, result.data, controller.signal, log);
      const { settling } = deps;
      // A workflow step's success releases its next steps: the slot waits for it.
      if (job.workflow_id || !settling) return settled;
      // A plain job's success is recorded after graphile-worker has its slot
      // back, so a slot waits for one commit per job (the start), not two. This
      // is safe because "running", with this process's id, is already durable:
      // if the process dies before the success commits, the heartbeat sweep
      // records the attempt as crashed and queues it again, as for a crash
      // mid-handler (at least once).
      settling.set(jobId, settled);
      void settled.finally(() => {
        if (settling.get(jobId) === settled) settling.delete(jobId);
      });
      while (settling.size > MAX_SETTLING) await Promise.race(settling.values());
      return;
    }
    outcome = {
      ok: false,
      error: new PermanentError(`Result does not match the ${task.type} schema: ${result.error.message}`),
    };
  }
  await retryWhileUnavailable(
    () => recordFailure(deps, task, job, outcome.error, controller.signal, log),
    waiting(log),
  );
}

/**
 * Records a success, waiting out an unreachable database. A write the database
 * refuses (say, a result it cannot store) fails the attempt instead. Never rejects.
 */
async function settleSuccess(
  deps: AttemptDeps,
  task: TaskDefinition<JobType>,
  job: AttemptRow,
  result: unknown,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const { pool } = deps.services;
  try {
    const recorded = await retryWhileUnavailable(() => recordSuccess(pool, job, result), waiting(log));
    if (recorded) log.info({ state: "succeeded" }, "attempt succeeded");
    else log.warn({ state: await currentStatus(pool, job.id) }, "result of a stale attempt dropped");
  } catch (error) {
    log.error({ err: (error as Error).message }, "result not recorded; the attempt counts as failed");
    // A value Postgres refuses to store (SQLSTATE class 22, say a NUL in a
    // string) would be refused again: running the handler again would only
    // repeat its side effects, so the job fails at once.
    const refused = isDataException(error)
      ? new PermanentError(`The result could not be stored: ${(error as Error).message}`)
      : error;
    await retryWhileUnavailable(() => recordFailure(deps, task, job, refused, signal, log), waiting(log)).catch(
      async (error: Error) => {
        // Its graphile job is done, so nothing else would run it again: record a crash, queued afresh.
        log.error({ err: error.message }, "attempt outcome not recorded; recording it as crashed");
        await recordCrashedAttempt(deps.services, job.id, { requeue: true }).catch((last: Error) =>
          log.error({ err: last.message }, "attempt left running"),
        );
      },
    );
  }
}

async function recordFailure(
  deps: AttemptDeps,
  task: TaskDefinition<JobType>,
  job: AttemptRow,
  thrown: unknown,
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const { pool } = deps.services;
  const { id: jobId, attempt, fence } = job;
  // A handler stopped by its abort signal usually throws an AbortError; the
  // signal's reason says why it was aborted.
  const error =
    thrown instanceof TimeLimitError || thrown instanceof PermanentError || !signal.aborted ? thrown : signal.reason;
  const err = error instanceof Error ? error : new Error(String(error));
  if (err instanceof StaleAttemptError || err instanceof CancelledError) {
    log.warn({ state: await currentStatus(pool, jobId) }, "attempt stopped: the job moved on");
    return;
  }
  const isTimeout = err instanceof TimeLimitError;
  // The job's own max_attempts, fixed at enqueue (a deploy that changes the task's default does not reach it).
  const lastAttempt = attempt >= job.max_attempts;
  let reason: DlqReason | undefined;
  if (err instanceof PermanentError) reason = "permanent_error";
  else if (lastAttempt) reason = isTimeout ? "timeout" : "retries_exhausted";

  if (reason) {
    const row = await fail(pool, job, reason, err.message, err.stack ?? null);
    if (row) log.error({ state: "failed", reason, err: err.message }, "job failed into the dead-letter queue");
    else log.warn("failure of a stale attempt dropped");
    return;
  }

  // A server's Retry-After is honoured: never sooner than it asks (capped at a day).
  const retryAfterMs = err instanceof TransientError ? Math.min(err.retryAfterMs ?? 0, 24 * 3600_000) : 0;
  const nextRunAt = new Date(Date.now() + Math.max(backoffDelayMs(task.backoff, attempt), retryAfterMs));
  const row = await withTransaction(pool, async (client) => {
    const updated = await applyTransition(client, {
      jobId,
      to: "retrying",
      from: ["running"],
      fence,
      set: { run_at: "$4", error: "$5", error_stack: "$6" },
      params: [nextRunAt, err.message, err.stack ?? null],
      event: { error: err.message, nextRunAt },
    });
    if (updated) {
      await queueAttempt(client, task, { jobId, runAt: nextRunAt, priority: updated.priority });
    }
    return updated;
  });
  if (row) log.warn({ state: "retrying", err: err.message, nextRunAt }, "attempt failed; will retry");
  else log.warn("failure of a stale attempt dropped");
}
