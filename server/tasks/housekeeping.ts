/**
 * Recurring maintenance, each task declared with its schedule. graphile-worker's
 * cron runs them (UTC, one run per slot across all workers; see
 * server/worker/schedules.ts). These are graphile tasks, not job types: they
 * have no Job record.
 */
import fs from "node:fs/promises";
import path from "node:path";
import type { Task } from "graphile-worker";
import type pg from "pg";
import type { Config } from "../config.js";
import { longStatement } from "../db/pool.js";

export interface ScheduledTask {
  /** Unique: the graphile task name and the cron identifier. */
  name: string;
  /** Standard five-field cron pattern (minute hour day month weekday), in UTC. */
  cron: string;
  /** What a run does, for the dashboard's Schedules page. */
  description: string;
  /** Slots missed while no worker ran are run at startup, if at most this old (ms; 0: none). */
  backfillMs: number;
  task: (services: { pool: pg.Pool; config: Config }) => Task;
  /** Set when each run enqueues a job of this type (a recurring job declared on its task). */
  jobType?: string;
}

/** Deletes idempotency keys past their window (expired keys are already ignored at read). */
export const cleanupIdempotencyKeys: ScheduledTask = {
  name: "cleanup_idempotency_keys",
  cron: "*/10 * * * *",
  description: "Deletes idempotency keys older than IDEMPOTENCY_TTL_HOURS.",
  backfillMs: 0,
  task:
    ({ pool }) =>
    async (_payload, helpers) => {
      const { rowCount } = await pool.query(longStatement("DELETE FROM idempotency_keys WHERE expires_at <= now()"));
      helpers.logger.info(`deleted ${rowCount ?? 0} expired idempotency keys`);
    },
};

/**
 * Deletes exports past their retention (the file and its row) and temporary
 * files a crashed export left behind (never served: downloads read only
 * renamed, recorded files).
 */
export const cleanupExports: ScheduledTask = {
  name: "cleanup_exports",
  cron: "17 * * * *",
  description: "Deletes export files past their link's lifetime, and temporary files a crashed export left.",
  backfillMs: 0,
  task:
    ({ pool, config }) =>
    async (_payload, helpers) => {
      const { rows } = await pool.query<{ path: string }>(
        longStatement("DELETE FROM export_files WHERE expires_at <= now() RETURNING path"),
      );
      for (const row of rows) await fs.rm(row.path, { force: true });
      let stale = 0;
      const entries = await fs.readdir(config.exportDir).catch(() => [] as string[]);
      for (const name of entries.filter((n) => n.endsWith(".tmp"))) {
        const file = path.join(config.exportDir, name);
        const stat = await fs.stat(file).catch(() => undefined);
        if (stat && Date.now() - stat.mtimeMs > 24 * 3600_000) {
          await fs.rm(file, { force: true });
          stale += 1;
        }
      }
      helpers.logger.info(`deleted ${rows.length} expired exports and ${stale} stale temporary files`);
    },
};

/**
 * Jobs pruned per statement, so one run never holds long locks on a big history.
 * Maintenance statements (here and above) are longStatements: a batch with its
 * cascades, or a backlog of expired keys, can outlast DB_QUERY_TIMEOUT_MS.
 */
const PRUNE_BATCH = 5_000;

/**
 * Deletes finished jobs older than the retention: their events go with them
 * (foreign key cascade), and their export files too (the file as well as its
 * row). Kept whatever their age: pending, running and retrying jobs, and
 * failed jobs still in the dead-letter queue (not discarded), which wait for
 * someone to act on them. A workflow's steps go only with their workflow
 * (pruneWorkflows): a resumed workflow reads its finished steps' results.
 */
export async function pruneJobHistory(pool: pg.Pool, retentionDays: number): Promise<number> {
  let pruned = 0;
  for (;;) {
    const { rows } = await pool.query<{ id: string; paths: string[] | null }>(
      longStatement(
        `WITH doomed AS (
         SELECT id FROM jobs
          WHERE (status IN ('succeeded', 'cancelled') OR (status = 'failed' AND discarded_at IS NOT NULL))
            AND coalesce(completed_at, updated_at) < now() - make_interval(days => $1)
            AND workflow_id IS NULL
          LIMIT $2
          FOR UPDATE SKIP LOCKED
       ), files AS (
         DELETE FROM export_files WHERE job_id IN (SELECT id FROM doomed) RETURNING job_id, path
       )
       DELETE FROM jobs USING doomed WHERE jobs.id = doomed.id
       RETURNING jobs.id, (SELECT array_agg(path) FROM files WHERE files.job_id = jobs.id) AS paths`,
        [retentionDays, PRUNE_BATCH],
      ),
    );
    for (const row of rows) for (const file of row.paths ?? []) await fs.rm(file, { force: true });
    pruned += rows.length;
    if (rows.length < PRUNE_BATCH) return pruned;
  }
}

/**
 * Deletes ended workflows older than the retention, with their steps' jobs,
 * events and export files, under the same rule as jobs: a workflow with a
 * step still unfinished or still in the dead-letter queue is kept.
 */
export async function pruneWorkflows(pool: pg.Pool, retentionDays: number): Promise<number> {
  let pruned = 0;
  for (;;) {
    const { rows } = await pool.query<{ n: number; paths: string[] | null }>(
      longStatement(
        `WITH doomed AS (
         SELECT id FROM workflows w
          WHERE status IN ('succeeded', 'failed', 'cancelled')
            AND coalesce(completed_at, updated_at) < now() - make_interval(days => $1)
            AND NOT EXISTS (
              SELECT 1 FROM jobs j
               WHERE j.workflow_id = w.id
                 AND (j.status IN ('pending', 'running', 'retrying') OR (j.status = 'failed' AND j.discarded_at IS NULL)))
          LIMIT $2
          FOR UPDATE SKIP LOCKED
       ), files AS (
         DELETE FROM export_files f USING jobs j
          WHERE f.job_id = j.id AND j.workflow_id IN (SELECT id FROM doomed)
         RETURNING f.path
       ), gone AS (
         DELETE FROM workflows USING doomed WHERE workflows.id = doomed.id RETURNING workflows.id
       )
       SELECT (SELECT count(*) FROM gone)::int AS n, (SELECT array_agg(path) FROM files) AS paths`,
        [retentionDays, PRUNE_BATCH],
      ),
    );
    const row = rows[0];
    for (const file of row?.paths ?? []) await fs.rm(file, { force: true });
    pruned += row?.n ?? 0;
    if ((row?.n ?? 0) < PRUNE_BATCH) return pruned;
  }
}

export const pruneJobHistoryTask: ScheduledTask = {
  name: "prune_job_history",
  cron: "43 * * * *",
  description:
    "Deletes finished jobs and ended workflows (with their events and export files) older than JOB_RETENTION_DAYS; keeps unfinished work and the dead-letter queue.",
  backfillMs: 0,
  task:
    ({ pool, config }) =>
    async (_payload, helpers) => {
      const pruned = await pruneJobHistory(pool, config.JOB_RETENTION_DAYS);
      const workflows = await pruneWorkflows(pool, config.JOB_RETENTION_DAYS);
      helpers.logger.info(
        `pruned ${pruned} jobs and ${workflows} workflows older than ${config.JOB_RETENTION_DAYS} days`,
      );
    },
};

/** Every scheduled task, in the order the dashboard lists them. */
export const scheduledTasks: readonly ScheduledTask[] = [cleanupIdempotencyKeys, cleanupExports, pruneJobHistoryTask];
