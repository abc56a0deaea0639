/**
 * The declared schedules (server/tasks/housekeeping.ts) as graphile-worker
 * cron items, and what the dashboard shows of them. graphile-worker's cron
 * runs in every worker process; a slot runs once across all of them (each
 * process claims the slot by advancing the item's last execution in
 * graphile_worker's known_crontabs, and only the process that advanced it
 * queues the job). Times are UTC.
 */
import { type ParsedCronItem, parseCronItems, type TaskList } from "graphile-worker";
import type pg from "pg";
import type { Config } from "../config.js";
import { type ScheduledTask, scheduledTasks } from "../tasks/housekeeping.js";

export function cronItems(schedules: readonly ScheduledTask[] = scheduledTasks): ParsedCronItem[] {
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

export function scheduledTaskList(services: { pool: pg.Pool; config: Config }): TaskList {
  return Object.fromEntries(scheduledTasks.map((schedule) => [schedule.name, schedule.task(services)]));
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
  cron: string;
  description: string;
  backfillMs: number;
  nextRunAt: Date | null;
  /** The last slot any worker ran (graphile-worker's known_crontabs); null before the first. */
  lastRunAt: Date | null;
}

export async function listSchedules(pool: pg.Pool, now = new Date()): Promise<ScheduleView[]> {
  const { rows } = await pool
    .query<{ identifier: string; last_execution: Date | null }>(
      "SELECT identifier, last_execution FROM graphile_worker._private_known_crontabs",
    )
    .catch(() => ({ rows: [] as { identifier: string; last_execution: Date | null }[] }));
  const lastRuns = new Map(rows.map((row) => [row.identifier, row.last_execution]));
  const items = cronItems();
  return scheduledTasks.map((schedule, i) => ({
    name: schedule.name,
    cron: schedule.cron,
    description: schedule.description,
    backfillMs: schedule.backfillMs,
    nextRunAt: nextRunAfter(items[i] as ParsedCronItem, now) ?? null,
    lastRunAt: lastRuns.get(schedule.name) ?? null,
  }));
}
