/**
 * The declared schedules as graphile-worker cron items, and what the dashboard
 * shows of them. Two kinds: housekeeping tasks (server/tasks/housekeeping.ts)
 * and recurring jobs declared on a job type's task (`schedules` in its
 * TaskDefinition), whose runs enqueue a job of that type through the normal
 * pipeline. graphile-worker's cron runs in every worker process; a slot runs
 * once across all of them (each process claims the slot by advancing the
 * item's last execution in graphile_worker's known_crontabs, and only the
 * process that advanced it queues the run). A recurring job also carries the
 * idempotency key schedule:<name>:<slot>, so a slot cannot make two jobs even
 * if it ran twice. Times are UTC.
 */
import { type ParsedCronItem, parseCronItems, type TaskList } from "graphile-worker";
import type pg from "pg";
import type { JobType } from "../../shared/jobs.js";
import type { Config } from "../config.js";
import { enqueueJobs } from "../lifecycle/enqueue.js";
import { type ScheduledTask, scheduledTasks } from "../tasks/housekeeping.js";
import { tasks } from "../tasks/index.js";
import type { JobSchedule, TaskDefinition } from "../tasks/types.js";

/** Recurring jobs are owned by this account (an admin, so they appear in every admin's list). */
export const SCHEDULER_EMAIL = "scheduler@typed-jobs.local";

async function schedulerId(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO users (id, email, role) VALUES (gen_random_uuid(), $1, 'admin')
     ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email RETURNING id`,
    [SCHEDULER_EMAIL],
  );
  return (rows[0] as { id: string }).id;
}

function recurringJob(type: JobType, schedule: JobSchedule<JobType>): ScheduledTask {
  return {
    name: schedule.name,
    cron: schedule.cron,
    description: schedule.description,
    backfillMs: schedule.backfillMs ?? 0,
    jobType: type,
    task:
      ({ pool, config }) =>
      async (payload, helpers) => {
        // graphile-worker passes the slot's time; a backfilled run gets its own slot's.
        const ts = (payload as { _cron?: { ts?: string } } | null)?._cron?.ts;
        const slot = ts ? new Date(ts) : new Date();
        const [jobId] = await enqueueJobs(
          pool,
          await schedulerId(pool),
          [
            {
              type,
              payload: schedule.payload(slot),
              idempotencyKey: `schedule:${schedule.name}:${slot.toISOString()}`,
            },
          ],
          { idempotencyTtlHours: config.IDEMPOTENCY_TTL_HOURS },
        );
        helpers.logger.info(`enqueued ${type} job ${jobId} for ${slot.toISOString()}`);
      },
  };
}

/** Every schedule: the housekeeping, then each job type's recurring jobs. */
export function allSchedules(
  definitions: readonly TaskDefinition<JobType>[] = Object.values(tasks) as TaskDefinition<JobType>[],
): ScheduledTask[] {
  return [
    ...scheduledTasks,
    ...definitions.flatMap((definition) =>
      (definition.schedules ?? []).map((schedule) => recurringJob(definition.type, schedule)),
    ),
  ];
}

export function cronItems(schedules: readonly ScheduledTask[] = allSchedules()): ParsedCronItem[] {
  return parseCronItems(
    schedules.map((schedule) => ({
      task: schedule.name,
      identifier: schedule.name,
      match: schedule.cron,
      // A run that fails is not retried: the next slot does the same work.
      options: { backfillPeriod: schedule.backfillMs, maxAttempts: 1 },
    })),
  );
}

export function scheduledTaskList(
  services: { pool: pg.Pool; config: Config },
  schedules: readonly ScheduledTask[] = allSchedules(),
): TaskList {
  return Object.fromEntries(schedules.map((schedule) => [schedule.name, schedule.task(services)]));
}

/** The first minute after `from` (UTC) that the cron item matches; undefined if none within a year and a day. */
export function nextRunAfter(item: ParsedCronItem, from: Date): Date | undefined {
  const at = new Date(from);
  at.setUTCSeconds(0, 0);
  for (let i = 0; i < 366 * 24 * 60 + 1; i++) {
    at.setUTCMinutes(at.getUTCMinutes() + 1);
    const digest = {
      min: at.getUTCMinutes(),
      hour: at.getUTCHours(),
      date: at.getUTCDate(),
      month: at.getUTCMonth() + 1,
      dow: at.getUTCDay(),
    };
    if (item.match(digest)) return new Date(at);
  }
  return undefined;
}

export interface ScheduleView {
  name: string;
  /** The job type a run enqueues; null for housekeeping. */
  jobType: string | null;
  cron: string;
  description: string;
  backfillMs: number;
  nextRunAt: Date | null;
  /** The last slot any worker ran (graphile-worker's known_crontabs); null before the first. */
  lastRunAt: Date | null;
}

export async function listSchedules(
  pool: pg.Pool,
  now = new Date(),
  schedules: readonly ScheduledTask[] = allSchedules(),
): Promise<ScheduleView[]> {
  const { rows } = await pool
    .query<{ identifier: string; last_execution: Date | null }>(
      "SELECT identifier, last_execution FROM graphile_worker._private_known_crontabs",
    )
    .catch(() => ({ rows: [] as { identifier: string; last_execution: Date | null }[] }));
  const lastRuns = new Map(rows.map((row) => [row.identifier, row.last_execution]));
  const items = cronItems(schedules);
  return schedules.map((schedule, i) => ({
    name: schedule.name,
    jobType: schedule.jobType ?? null,
    cron: schedule.cron,
    description: schedule.description,
    backfillMs: schedule.backfillMs,
    nextRunAt: nextRunAfter(items[i] as ParsedCronItem, now) ?? null,
    lastRunAt: lastRuns.get(schedule.name) ?? null,
  }));
}
