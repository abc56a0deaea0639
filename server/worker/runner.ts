/**
 * The graphile-worker runner: one graphile task per job type, each wrapped by
 * runAttempt, plus the housekeeping cron. Runs inside the server by default,
 * or alone with `npm run worker`.
 *
 * Glossary (graphile-worker's terms): a *task* is the code for one job type; a
 * *job* is one queued execution request (our Job record's current attempt); a
 * *worker* pulls jobs and runs tasks; the *runner* owns the workers and cron.
 */
import { type Runner, run, type TaskList } from "graphile-worker";
import type { JobType } from "../../shared/jobs.js";
import type { Logger } from "../logger.js";
import { cleanupExports, cleanupIdempotencyKeys, HOUSEKEEPING_CRONTAB } from "../tasks/housekeeping.js";
import { tasks } from "../tasks/index.js";
import type { TaskDefinition, TaskServices } from "../tasks/types.js";
import { graphileLogger } from "./graphile-logger.js";
import { type AttemptDeps, runAttempt, ShutdownError } from "./run-attempt.js";

/** Per-type overrides of a task's backoff and time limits (tests and operators). */
export type TaskTuning = Partial<Record<JobType, Partial<Pick<TaskDefinition<JobType>, "backoff" | "timeouts">>>>;

export interface WorkerHandle {
  /** Stops taking jobs, lets running ones finish for `graceMs`, then aborts them. */
  stop: (graceMs: number) => Promise<void>;
  runner: Runner;
}

export async function startWorker(
  services: TaskServices,
  logger: Logger,
  options: { concurrency: number; tuning?: TaskTuning | undefined },
): Promise<WorkerHandle> {
  const deps: AttemptDeps = { services, logger, inFlight: new Set() };
  const taskList: TaskList = {
    cleanup_idempotency_keys: cleanupIdempotencyKeys(services.pool),
    cleanup_exports: cleanupExports(services.pool, services.config.exportDir),
  };
  for (const declared of Object.values(tasks) as TaskDefinition<JobType>[]) {
    const task = { ...declared, ...options.tuning?.[declared.type] };
    taskList[task.type] = async (payload) => {
      const jobId = (payload as { jobId?: unknown } | null)?.jobId;
      if (typeof jobId !== "string") {
        logger.error({ type: task.type, payload }, "graphile job without a jobId; dropped");
        return;
      }
      await runAttempt(deps, task, jobId);
    };
  }
  const runner = await run({
    pgPool: services.pool,
    concurrency: options.concurrency,
    noHandleSignals: true,
    pollInterval: 1000,
    taskList,
    crontab: HOUSEKEEPING_CRONTAB,
    logger: graphileLogger(logger),
  });
  logger.info({ concurrency: options.concurrency }, "worker started");

  return {
    runner,
    stop: async (graceMs: number) => {
      const timer = setTimeout(() => {
        for (const controller of deps.inFlight) controller.abort(new ShutdownError());
      }, graceMs);
      try {
        await runner.stop();
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
