// Declared schedules: their cron items and next runs, one run per slot across
// two worker processes' runners, and the job-history retention that really
// deletes what it should and nothing else.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { run } from "graphile-worker";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startWorkflow } from "../../server/lifecycle/workflows.js";
import { createLogger } from "../../server/logger.js";
import { emailTask } from "../../server/tasks/email.js";
import {
  pruneJobHistory,
  pruneWorkflows,
  type ScheduledTask,
  scheduledTasks,
} from "../../server/tasks/housekeeping.js";
import type { TaskDefinition } from "../../server/tasks/types.js";
import { graphileLogger } from "../../server/worker/graphile-logger.js";
import type { TaskTuning } from "../../server/worker/runner.js";
import {
  allSchedules,
  cronItems,
  listSchedules,
  nextRunAfter,
  SCHEDULER_EMAIL,
} from "../../server/worker/schedules.js";
import type { JobType } from "../../shared/jobs.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { enqueueOne, makeUser, sleep } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

const utc = (iso: string) => new Date(`${iso}Z`);

describe("declared schedules", () => {
  test("each declared task is a cron item under its own name, and its next run is the next matching UTC minute", () => {
    const items = cronItems();
    expect(items.map((item) => [item.identifier, item.task])).toEqual(
      scheduledTasks.map((schedule) => [schedule.name, schedule.name]),
    );
    const [everyTen] = cronItems([{ ...(scheduledTasks[0] as ScheduledTask), cron: "*/10 * * * *" }]);
    expect(nextRunAfter(everyTen as never, utc("2026-11-24T12:03:30"))).toEqual(utc("2026-11-24T12:10:00"));
    expect(nextRunAfter(everyTen as never, utc("2026-11-24T12:10:00"))).toEqual(utc("2026-11-24T12:20:00"));
    const [hourly] = cronItems([{ ...(scheduledTasks[0] as ScheduledTask), cron: "17 * * * *" }]);
    expect(nextRunAfter(hourly as never, utc("2026-11-24T23:17:00"))).toEqual(utc("2026-11-25T00:17:00"));
    const [yearly] = cronItems([{ ...(scheduledTasks[0] as ScheduledTask), cron: "0 0 29 2 *" }]);
    expect(nextRunAfter(yearly as never, utc("2026-11-24T00:00:00"))).toBeUndefined(); // next 29 Feb is 2028
  });

  test("listSchedules gives every declared schedule with its next run, and the last slot run", async () => {
    await t.pool.query(
      `INSERT INTO graphile_worker._private_known_crontabs (identifier, known_since, last_execution)
       VALUES ('cleanup_exports', now() - interval '2 hours', '2026-11-24T11:17:00Z')
       ON CONFLICT (identifier) DO UPDATE SET last_execution = EXCLUDED.last_execution`,
    );
    const now = utc("2026-11-24T12:05:00");
    const schedules = await listSchedules(t.pool, now);
    expect(schedules.map((s) => s.name)).toEqual(["cleanup_idempotency_keys", "cleanup_exports", "prune_job_history"]);
    const exports = schedules.find((s) => s.name === "cleanup_exports");
    expect(exports).toMatchObject({ cron: "17 * * * *", nextRunAt: utc("2026-11-24T12:17:00") });
    expect(exports?.lastRunAt?.toISOString()).toBe("2026-11-24T11:17:00.000Z");
    for (const schedule of schedules) {
      expect(schedule.description.length).toBeGreaterThan(10);
      expect(schedule.nextRunAt?.getTime()).toBeGreaterThan(now.getTime());
    }
  });

  test("two runners on one database run each slot once (backfilled minutes, claimed through known_crontabs)", async () => {
    const ran: string[] = [];
    const everyMinute: ScheduledTask = {
      name: "test_every_minute",
      cron: "* * * * *",
      description: "test",
      backfillMs: 5 * 60_000,
      task: () => async () => {},
    };
    // Known for a while, last run ten minutes ago: both runners find the last five minutes' slots due.
    await t.pool.query(
      `INSERT INTO graphile_worker._private_known_crontabs (identifier, known_since, last_execution)
       VALUES ('test_every_minute', now() - interval '1 hour', now() - interval '10 minutes')`,
    );
    const logger = graphileLogger(createLogger("silent"));
    const task = async (payload: unknown) => {
      ran.push((payload as { _cron: { ts: string } })._cron.ts);
    };
    const runners = await Promise.all(
      [1, 2].map(() =>
        run({
          pgPool: t.pool,
          concurrency: 2,
          noHandleSignals: true,
          pollInterval: 200,
          taskList: { test_every_minute: task },
          parsedCronItems: cronItems([everyMinute]),
          logger,
        }),
      ),
    );
    try {
      const deadline = Date.now() + 10_000;
      while (ran.length < 5 && Date.now() < deadline) await sleep(100);
      await sleep(500); // a duplicate would have had time to run too
    } finally {
      await Promise.all(runners.map((runner) => runner.stop()));
    }
    expect(ran.length).toBeGreaterThanOrEqual(4); // the minutes of the last five, as the backfill rounds
    expect(new Set(ran).size).toBe(ran.length);
  });
});

describe("prune_job_history", () => {
  test("deletes finished jobs older than the retention with their events and export files; keeps everything else", async () => {
    const owner = await makeUser(t.db, "prune@example.com");
    const exportDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-prune-"));
    const make = async (status: string, daysAgo: number, extra = "") => {
      const id = await enqueueOne(t.pool, owner);
      await t.pool.query(
        `UPDATE jobs SET status = $2, completed_at = CASE WHEN $2 IN ('succeeded','failed','cancelled')
           THEN now() - make_interval(days => $3) END, updated_at = now() - make_interval(days => $3) ${extra}
          WHERE id = $1`,
        [id, status, daysAgo],
      );
      return id;
    };
    const oldSucceeded = await make("succeeded", 40);
    const oldCancelled = await make("cancelled", 40);
    const oldDiscarded = await make("failed", 40, ", dlq_reason = 'retries_exhausted', discarded_at = now()");
    const oldDeadLetter = await make("failed", 40, ", dlq_reason = 'retries_exhausted'");
    const oldRunning = await make("running", 40);
    const oldPending = await make("pending", 40);
    const recentSucceeded = await make("succeeded", 5);
    const file = path.join(exportDir, `${oldSucceeded}.csv`);
    await fs.writeFile(file, "a,b\n");
    await t.pool.query(
      `INSERT INTO export_files (job_id, path, format, gzip, rows, bytes, expires_at)
       VALUES ($1, $2, 'csv', false, 1, 4, now() + interval '1 day')`,
      [oldSucceeded, file],
    );

    expect(await pruneJobHistory(t.pool, 30)).toBe(3);

    const { rows } = await t.pool.query<{ id: string }>("SELECT id FROM jobs WHERE owner_id = $1", [owner.id]);
    expect(rows.map((r) => r.id).sort()).toEqual([oldDeadLetter, oldRunning, oldPending, recentSucceeded].sort());
    const { rows: events } = await t.pool.query("SELECT 1 FROM job_events WHERE job_id = ANY($1::uuid[])", [
      [oldSucceeded, oldCancelled, oldDiscarded],
    ]);
    expect(events).toEqual([]);
    await expect(fs.access(file)).rejects.toThrow();
    expect(await pruneJobHistory(t.pool, 30)).toBe(0);
    await fs.rm(exportDir, { recursive: true, force: true });
  });
});

describe("prune_job_history: workflows", () => {
  test("ended workflows older than the retention go with their steps' jobs, events and files; the rest stay", async () => {
    const owner = await makeUser(t.db, "prune-flows@example.com");
    const exportDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-prune-flows-"));
    const start = () =>
      startWorkflow(t.pool, owner.id, "notify_all", {
        recipients: ["a@example.com"],
        subject: "s",
        body: "b",
        reportTo: "r@example.com",
      });
    /** Ends the workflow `daysAgo`, its enqueued step in `stepStatus` (the report step never ran). */
    const age = async (workflowId: string, status: string, stepStatus: string, daysAgo: number, extra = "") => {
      await t.pool.query(
        `UPDATE jobs SET status = $2, completed_at = now() - make_interval(days => $3),
                updated_at = now() - make_interval(days => $3) ${extra}
          WHERE workflow_id = $1`,
        [workflowId, stepStatus, daysAgo],
      );
      await t.pool.query(
        `UPDATE workflows SET status = $2, completed_at = CASE WHEN $2 <> 'running' THEN now() - make_interval(days => $3) END,
                updated_at = now() - make_interval(days => $3), created_at = now() - make_interval(days => $3)
          WHERE id = $1`,
        [workflowId, status, daysAgo],
      );
    };
    const oldEnded = await start();
    await age(oldEnded, "cancelled", "succeeded", 40);
    const oldWithDeadLetter = await start();
    await age(oldWithDeadLetter, "failed", "failed", 40, ", dlq_reason = 'permanent_error'");
    const oldRunning = await start();
    await age(oldRunning, "running", "succeeded", 40);
    const recentEnded = await start();
    await age(recentEnded, "succeeded", "succeeded", 5);
    const { rows: steps } = await t.pool.query<{ id: string }>("SELECT id FROM jobs WHERE workflow_id = $1", [
      oldEnded,
    ]);
    const file = path.join(exportDir, "step.csv");
    await fs.writeFile(file, "a\n");
    await t.pool.query(
      `INSERT INTO export_files (job_id, path, format, gzip, rows, bytes, expires_at)
       VALUES ($1, $2, 'csv', false, 1, 2, now() + interval '1 day')`,
      [steps[0]?.id, file],
    );

    // Step jobs are not pruned on their own, even when old and finished.
    expect(await pruneJobHistory(t.pool, 30)).toBe(0);
    expect(await pruneWorkflows(t.pool, 30)).toBe(1);

    const { rows } = await t.pool.query<{ id: string }>("SELECT id FROM workflows WHERE owner_id = $1", [owner.id]);
    expect(rows.map((r) => r.id).sort()).toEqual([oldWithDeadLetter, oldRunning, recentEnded].sort());
    const { rows: left } = await t.pool.query(
      "SELECT 1 FROM jobs WHERE workflow_id = $1 OR id = ANY($2::uuid[]) UNION ALL SELECT 1 FROM job_events WHERE workflow_id = $1 OR job_id = ANY($2::uuid[])",
      [oldEnded, steps.map((r) => r.id)],
    );
    expect(left).toEqual([]);
    await expect(fs.access(file)).rejects.toThrow();
    expect(await pruneWorkflows(t.pool, 30)).toBe(0);
    await fs.rm(exportDir, { recursive: true, force: true });
  });
});

describe("recurring jobs declared on a job type's task", () => {
  const digest = {
    name: "test_digest",
    cron: "* * * * *",
    description: "A digest email every minute",
    backfillMs: 5 * 60_000,
    payload: (slot: Date) => ({ to: "digest@example.com", subject: `Digest ${slot.toISOString()}`, body: "b" }),
  };
  const tuning: TaskTuning = {
    email: {
      schedules: [digest],
      run: async () => ({ messageId: "<digest@test>", accepted: ["digest@example.com"], response: "250 OK" }),
    },
  };

  test("they are listed with their job type next to the housekeeping", async () => {
    const schedules = allSchedules([{ ...emailTask, ...tuning.email } as TaskDefinition<JobType>]);
    expect(schedules.map((s) => [s.name, s.jobType ?? null])).toEqual([
      ["cleanup_idempotency_keys", null],
      ["cleanup_exports", null],
      ["prune_job_history", null],
      ["test_digest", "email"],
    ]);
    const listed = await listSchedules(t.pool, new Date(), schedules);
    expect(listed.at(-1)).toMatchObject({ name: "test_digest", jobType: "email", cron: "* * * * *" });
  });

  test("each slot enqueues one typed job through the pipeline, with two worker processes on one database", async () => {
    const seed = await openTestDb();
    await seed.pool.query(
      `INSERT INTO graphile_worker._private_known_crontabs (identifier, known_since, last_execution)
       VALUES ('test_digest', now() - interval '1 hour', now() - interval '10 minutes')`,
    );
    const apps: TestApp[] = [];
    try {
      for (let i = 0; i < 2; i++) apps.push(await startTestApp({ DATABASE_URL: seed.url }, { tuning }));
      const jobs = async () =>
        (
          await seed.pool.query<{ key: string; status: string; subject: string; email: string }>(
            `SELECT j.idempotency_key AS key, j.status, j.payload->>'subject' AS subject, u.email
               FROM jobs j JOIN users u ON u.id = j.owner_id WHERE j.type = 'email'`,
          )
        ).rows;
      const deadline = Date.now() + 20_000;
      while (Date.now() < deadline) {
        const rows = await jobs();
        if (rows.length >= 4 && rows.every((r) => r.status === "succeeded")) break;
        await sleep(200);
      }
      await sleep(500); // a second job for a slot would have had time to appear
      const rows = await jobs();
      expect(rows.length).toBeGreaterThanOrEqual(4); // the backfilled minutes
      expect(new Set(rows.map((r) => r.key)).size).toBe(rows.length);
      for (const row of rows) {
        const slot = row.key.replace("schedule:test_digest:", "");
        expect(row.subject).toBe(`Digest ${slot}`);
        expect(row.email).toBe(SCHEDULER_EMAIL);
        expect(row.status).toBe("succeeded");
      }
    } finally {
      for (const app of apps) await app.close();
      await seed.close();
    }
  });
});
