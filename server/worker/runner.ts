/**
 * server/worker/ runs tasks: graphile-worker's runner, an attempt's life
 * (attempt.ts, run-attempt.ts), heartbeats, cancellation and schedules. It
 * writes no job state itself (server/lifecycle/ does) and serves no HTTP.
 *
 * This file: the graphile-worker runner, one graphile task per job type, each wrapped by
 * runAttempt, plus the housekeeping cron. Runs inside the server by default,
 * or alone with `npm run worker`.
 *
 * Glossary (graphile-worker's terms): a *task* is the code for one job type; a
 * *job* is one queued execution request (our Job record's current attempt); a
 * *worker* pulls jobs and runs tasks; the *runner* owns the workers and cron.
 */
import { EventEmitter } from "node:events";
import { type Runner, run, type TaskList, type WorkerEvents } from "graphile-worker";
import type { JobType } from "../../shared/jobs.js";
import { PlanRefresh } from "../db/plan-refresh.js";
import { retryWhileUnavailable } from "../db/unavailable.js";
import type { Logger } from "../logger.js";
import { tasks } from "../tasks/index.js";
import type { TaskDefinition, TaskServices } from "../tasks/types.js";
import { AttemptTable, ShutdownError } from "./attempt.js";
import { CancellationListener } from "./cancellations.js";
import { graphileLogger } from "./graphile-logger.js";
import { Heartbeat, recoverAttempts } from "./heartbeat.js";
import { type AttemptDeps, runAttempt } from "./run-attempt.js";
import { allSchedules, cronItems, scheduledTaskList } from "./schedules.js";

/**
 * Per-type overrides of a task's backoff and time limits (tests and operators),
 * and of its handler (the benchmark's no-op, to measure the wrapper alone).
 */
export type TaskTuning = Partial<
  Record<JobType, Partial<Pick<TaskDefinition<JobType>, "backoff" | "timeouts" | "run" | "schedules">>>
>;

/**
 * graphile-worker's batching, as shipped: fetch and lock `localQueueSize` jobs
 * per query, and complete or fail the jobs finished in the same tick with one
 * query. Our own start and success writes are batched the same way (batched-writes.ts).
 */
export function graphileBatching(localQueueSize: number) {
  return {
    ...(localQueueSize > 1 ? { localQueue: { size: localQueueSize } } : {}),
    completeJobBatchDelay: 0,
    failJobBatchDelay: 0,
  };
}

export interface WorkerHandle {
  heartbeat: Heartbeat;
  /** Stops taking jobs, lets running ones finish for `graceMs`, then aborts them. */
  stop: (graceMs: number) => Promise<void>;
  /** The current graphile-worker runner (replaced if one dies with the database). */
  runner: () => Runner;
}

export async function startWorker(
  services: TaskServices,
  logger: Logger,
  options: { concurrency: number; tuning?: TaskTuning | undefined; connectionString: string },
): Promise<WorkerHandle> {
  const { config } = services;
  const heartbeat = new Heartbeat(services.pool, logger, {
    intervalMs: config.HEARTBEAT_INTERVAL_MS,
    timeoutMs: config.HEARTBEAT_TIMEOUT_MS,
  });
  const attempts = new AttemptTable();
  const shutdown = new AbortController();
  const deps: AttemptDeps = {
    services,
    logger,
    attempts,
    recordSuccessAfterSlot: true,
    shutdown: shutdown.signal,
    processId: heartbeat.processId,
  };
  const cancellations = new CancellationListener(options.connectionString, attempts, logger);
  await cancellations.start();
  // graphile-worker names its workers as it creates them; the heartbeat row
  // records the names so a sweeper can release their locks.
  const events: WorkerEvents = new EventEmitter();
  // Jobs are locked by the pool's id (batched fetching) or a worker's id.
  events.on("pool:create", ({ workerPool }) => heartbeat.addGraphileWorker(workerPool.id));
  events.on("worker:create", ({ worker }) => heartbeat.addGraphileWorker(worker.workerId));
  const definitions = (Object.values(tasks) as TaskDefinition<JobType>[]).map((declared) => ({
    ...declared,
    ...options.tuning?.[declared.type],
  }));
  const schedules = allSchedules(definitions);
  const taskList: TaskList = scheduledTaskList(services, schedules);
  for (const task of definitions) {
    taskList[task.type] = async (payload) => {
      const jobId = (payload as { jobId?: unknown } | null)?.jobId;
      if (typeof jobId !== "string") {
        logger.error({ type: task.type, payload }, "graphile job without a jobId; dropped");
        return;
      }
      await runAttempt(deps, task, jobId);
    };
  }
  const startRunner = () =>
    run({
      pgPool: services.pool,
      concurrency: options.concurrency,
      noHandleSignals: true,
      pollInterval: 1000,
      taskList,
      parsedCronItems: cronItems(schedules),
      preset: { worker: graphileBatching(config.WORKER_LOCAL_QUEUE_SIZE) },
      logger: graphileLogger(logger),
      events,
    });
  let runner = await startRunner();
  ignoreGraphileReturnJobsFailure(logger);
  let stopping = false;

  // graphile-worker stops its pool when it cannot release a job (the database
  // gone for longer than its retries). Start a new one once Postgres answers,
  // and release what the dead pool held: attempts it left running are recorded
  // as crashed and run again, instead of waiting out graphile's 4-hour lock.
  const replace = async (error: Error) => {
    if (stopping) return;
    logger.error({ err: error.message }, "the graphile-worker pool stopped; starting a new one");
    const deadIds = heartbeat.takeGraphileWorkerIds();
    // Until a pool runs again or the worker stops: an error other than the
    // database being away (say, too many connections) is logged and retried,
    // never left to become an unhandled rejection that ends the process.
    for (let delay = 1_000; ; delay = Math.min(delay * 2, 30_000)) {
      try {
        const next = await retryWhileUnavailable(async () => {
          if (stopping) return undefined;
          await recoverAttempts(services.pool, heartbeat.processId, deadIds, (jobId) => attempts.has(jobId));
          return startRunner();
        });
        // A shutdown that began while the database was away takes no new pool.
        if (!next || stopping) {
          await next?.stop().catch(() => {});
          return;
        }
        runner = next;
        watch(next);
        return;
      } catch (failure) {
        logger.error({ err: (failure as Error).message }, "could not start a new graphile-worker pool; will retry");
        await new Promise((resolve) => setTimeout(resolve, delay));
        if (stopping) return;
      }
    }
  };
  // A runner may also stop by itself without rejecting (graphile-worker 0.17
  // ends it when its pool fails to shut down cleanly, e.g. completing jobs
  // while the database is away): that is replaced the same way.
  const watch = (current: Runner) => {
    current.promise.then(() => {
      if (!stopping && runner === current) void replace(new Error("the graphile-worker runner stopped by itself"));
    }, replace);
  };
  watch(runner);
  await heartbeat.start();
  // Hot statements planned while the tables were empty are planned again as they fill (db/plan-refresh.ts).
  const planRefresh = new PlanRefresh(services.pool);
  planRefresh.start();
  logger.info({ concurrency: options.concurrency, processId: heartbeat.processId }, "worker started");

  return {
    runner: () => runner,
    heartbeat,
    stop: async (graceMs: number) => {
      const timer = setTimeout(() => {
        shutdown.abort();
        attempts.abortAll(() => new ShutdownError());
      }, graceMs);
      stopping = true;
      planRefresh.stop();
      try {
        // A pool that died with the database is already stopped: nothing to stop, and not an error.
        await runner.stop().catch((error: Error) => logger.warn({ err: error.message }, "graphile-worker pool stop"));
      } finally {
        clearTimeout(timer);
        // Successes still being recorded: the process deregisters only after
        // they land. If they cannot within the grace period (the database is
        // away), it stays registered and falls silent: a sweep then records
        // those attempts as crashed and queues them again.
        let waiting: NodeJS.Timeout | undefined;
        const landed = await Promise.race([
          Promise.all(attempts.recordingAfterSlot().map((attempt) => attempt.done)).then(() => true),
          new Promise<false>((resolve) => {
            waiting = setTimeout(() => resolve(false), graceMs);
          }),
        ]);
        clearTimeout(waiting);
        await cancellations.stop();
        if (landed) await heartbeat.stop();
        else {
          logger.warn(
            { jobs: attempts.recordingAfterSlot().length },
            "successes not recorded before shutdown; a sweep will run them again",
          );
          heartbeat.pause();
        }
      }
    },
  };
}

/**
 * graphile-worker 0.17.3's local queue, when it cannot hand its fetched jobs
 * back because the database is away and its pool is already released, throws
 * from a promise nobody awaits (localQueue.js, returnJobs): an unhandled
 * rejection, which would end the process. The jobs stay locked by the dead
 * pool, and the runner's replacement unlocks them (force_unlock_workers in
 * recoverAttempts). So that one error is logged; any other unhandled rejection
 * is rethrown and ends the process as Node's default would.
 */
const RETURN_JOBS_FAILURE = "Error occurred whilst returning jobs from local queue to database queue";
let returnJobsGuard: ((reason: unknown) => void) | undefined;
function ignoreGraphileReturnJobsFailure(logger: Logger): void {
  if (returnJobsGuard) return;
  returnJobsGuard = (reason) => {
    if (reason instanceof Error && reason.message.startsWith(RETURN_JOBS_FAILURE)) {
      logger.error(
        { err: reason.message },
        "graphile-worker could not return its local queue's jobs; the new pool unlocks them",
      );
      return;
    }
    throw reason;
  };
  process.on("unhandledRejection", returnJobsGuard);
}
