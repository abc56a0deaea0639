/**
 * What a task file declares: one definition object per job type. The runner
 * wrapper (server/worker/run-attempt.ts) decides every state transition; a task
 * only does its work, reports progress and returns its result.
 */
import type pg from "pg";
import type { JobPayload, JobProgress, JobRegistry, JobResult, JobType } from "../../shared/jobs.js";
import type { Config } from "../config.js";
import type { Db } from "../db/pool.js";
import type { Logger } from "../logger.js";
import type { Network } from "../webhooks/network.js";

export interface Backoff {
  /** Delay before the second attempt; doubles (by `factor`) each attempt after. */
  baseMs: number;
  maxMs: number;
  factor?: number;
}

export interface Timeouts {
  /** The handler's AbortSignal fires here; a well-behaved handler stops. */
  softMs: number;
  /** The wrapper abandons the attempt here and treats it as a transient failure. */
  hardMs: number;
}

/** Progress a handler reports: percent and note, plus its job type's own fields. */
export type ProgressReport<T extends JobType> = JobProgress<T>;

export interface TaskServices {
  db: Db;
  pool: pg.Pool;
  config: Config;
  network: Network;
}

export interface TaskContext<T extends JobType> {
  jobId: string;
  attempt: number;
  /** Parsed again with the job type's zod schema before the handler runs. */
  payload: JobPayload<T>;
  /** Fires at the soft time limit and at shutdown after the grace period. */
  signal: AbortSignal;
  /** Saves and streams progress (throttled); ignored once the attempt is stale. */
  progress: (report: ProgressReport<T>) => void;
  /**
   * The receipt an earlier attempt of this job kept (see keepsReceipt), parsed
   * with the result schema: the side effect was done, so do not do it again.
   * Undefined when there is none (always on a first attempt).
   */
  receipt: JobResult<T> | undefined;
  logger: Logger;
  services: TaskServices;
}

export interface TaskDefinition<T extends JobType> {
  type: T;
  schema: JobRegistry[T];
  maxAttempts: number;
  backoff: Backoff;
  timeouts: Timeouts;
  /**
   * Keep the result as the job's receipt: written with the success, in the
   * same statement, even when the attempt turns out stale (its job moved on:
   * a hard time limit, a crash sweep), so that a later attempt finds it as
   * `ctx.receipt` and does not repeat a side effect already done.
   */
  keepsReceipt?: boolean;
  /** A graphile-worker named queue: jobs in one queue run one at a time, in order. */
  queue?: string;
  /**
   * Checks at enqueue that the payload may be used by this owner (a webhook's
   * endpoint must be theirs). Returns a message for the named payload field.
   */
  checkForOwner?: (
    services: Pick<TaskServices, "pool">,
    ownerId: string,
    payload: JobPayload<T>,
  ) => Promise<{ field: string; message: string } | undefined>;
  /**
   * The part of the payload checkForOwner looks at: the items of one enqueue
   * with equal keys are checked once (500 deliveries to one endpoint, one
   * query). Without it, every item is checked.
   */
  ownerCheckKey?: (payload: JobPayload<T>) => string;
  run: (ctx: TaskContext<T>) => Promise<JobResult<T>>;
  /** Recurring jobs of this type: each cron slot enqueues one job (see server/worker/schedules.ts). */
  schedules?: readonly JobSchedule<T>[];
}

/** A recurring job, declared on its task: a cron slot enqueues one job of the task's type. */
export interface JobSchedule<T extends JobType> {
  /** Unique among all schedules: the cron identifier, and part of each job's idempotency key. */
  name: string;
  /** Standard five-field cron pattern (minute hour day month weekday), in UTC. */
  cron: string;
  description: string;
  /** Slots missed while no worker ran are enqueued at startup, if at most this old (ms; default 0). */
  backfillMs?: number;
  /** The payload of the slot's job, checked by the type's schema at enqueue. */
  payload: (slot: Date) => JobPayload<T>;
}

export function defineTask<T extends JobType>(definition: TaskDefinition<T>): TaskDefinition<T> {
  return definition;
}

/** Exponential backoff with equal jitter: half the delay fixed, half random. */
export function backoffDelayMs(backoff: Backoff, attempt: number, random = Math.random): number {
  const exponential = backoff.baseMs * (backoff.factor ?? 2) ** Math.max(0, attempt - 1);
  const capped = Math.min(backoff.maxMs, exponential);
  return Math.round(capped / 2 + random() * (capped / 2));
}
