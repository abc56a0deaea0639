// job_counts (jobs per owner, type and status) is kept by the statements that
// change what it counts: after any mix of lifecycle operations, housekeeping's
// prunes, the demo seed and a user's deletion, it says what counting the jobs
// table says; and concurrent writers from two processes neither drift it nor
// deadlock over its rows.
import type pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { z } from "zod";
import type { AuthUser } from "../../server/auth/tokens.js";
import { createPool } from "../../server/db/pool.js";
import { cancelJob, discardJob, requeueJob, requeueMany } from "../../server/lifecycle/actions.js";
import {
  type AttemptRow,
  recordCrashedAttempt,
  recordFailure,
  recordProgress,
  recordRetry,
  recordSuccess,
  startAttempt,
} from "../../server/lifecycle/attempts.js";
import { enqueueJobs } from "../../server/lifecycle/enqueue.js";
import { seedJobs } from "../../server/lifecycle/seed.js";
import { cancelWorkflow, startWorkflow } from "../../server/lifecycle/workflows.js";
import { pruneJobHistory, pruneWorkflows } from "../../server/tasks/housekeeping.js";
import { defineWorkflow } from "../../server/workflows/define.js";
import { registerWorkflow } from "../../server/workflows/index.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { emailItem, makeUser } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

registerWorkflow(
  defineWorkflow({
    name: "test_counts_chain",
    description: "two emails in a row",
    input: z.object({ to: z.email() }),
    steps: (s) =>
      s.chain(
        s.task("email", ({ input }) => ({ to: input.to, subject: "one", body: "1" })),
        s.task("email", ({ input }) => ({ to: input.to, subject: "two", body: "2" })),
      ),
  }),
);

const exportItem = { type: "export" as const, payload: { format: "csv" as const } };
const options = { idempotencyTtlHours: 1 };

/** job_counts' non-zero counts (its stripes summed), and the same counted from jobs: they must be equal. */
async function counts(pool: pg.Pool) {
  const [kept, counted] = await Promise.all([
    pool.query(
      `SELECT owner_id, job_type AS type, status, sum(n)::int AS n FROM job_counts
        GROUP BY owner_id, job_type, status HAVING sum(n) <> 0 ORDER BY owner_id, job_type, status`,
    ),
    pool.query(
      `SELECT owner_id, type, status, count(*)::int AS n FROM jobs GROUP BY owner_id, type, status
        ORDER BY owner_id, type, status`,
    ),
  ]);
  return { kept: kept.rows, counted: counted.rows };
}

async function expectConsistent(pool: pg.Pool = t.pool) {
  const { kept, counted } = await counts(pool);
  expect(counted.length).toBeGreaterThan(0);
  expect(kept).toEqual(counted);
}

async function enqueue(owner: AuthUser, items: unknown[]) {
  return enqueueJobs(t.pool, owner.id, items, options);
}

async function start(jobId: string): Promise<AttemptRow> {
  const row = await startAttempt(t.pool, jobId, null);
  if (!row) throw new Error(`${jobId} did not start`);
  return row;
}

const failure = { error: "no", stack: null };

test("after a mix of every operation, job_counts is what counting the jobs says", async () => {
  const alice = await makeUser(t.db, "counts-alice@example.com");
  const bob = await makeUser(t.db, "counts-bob@example.com");

  // Enqueue: one at a time, a batch of two types, with idempotency keys (a repeat creates nothing).
  const [a1, a2, a3, a4, a5, a6, a7, a8] = await enqueue(
    alice,
    Array.from({ length: 8 }, () => emailItem()),
  );
  const [e1, e2] = await enqueue(alice, [exportItem, exportItem, emailItem()]);
  await enqueue(bob, [emailItem({ idempotencyKey: "k1" }), emailItem({ idempotencyKey: "k2" }), exportItem]);
  await enqueue(bob, [emailItem({ idempotencyKey: "k1" })]);
  await expectConsistent();

  // Starts, progress and successes, batched together (one statement for several jobs).
  const [r1, r2, r3] = await Promise.all([start(a1 as string), start(a2 as string), start(e1 as string)]);
  await recordProgress(t.pool, a1 as string, r1.fence, { percent: 50 });
  await expectConsistent();
  await Promise.all([
    recordSuccess(t.pool, r1, { messageId: "<1@x>", accepted: [], response: "ok" }, { progress: { percent: 100 } }),
    recordSuccess(t.pool, r2, { messageId: "<2@x>", accepted: [], response: "ok" }),
    start(a3 as string),
  ]);
  await expectConsistent();

  // A failure into the dead-letter queue; a retry, started again from retrying and then succeeding.
  await recordFailure(t.pool, r3, { reason: "permanent_error", ...failure });
  const r4 = await start(a4 as string);
  await recordRetry(t.pool, { type: "email" }, r4, { ...failure, nextRunAt: new Date() });
  await expectConsistent();
  const r4again = await start(a4 as string);
  expect(r4again.attempt).toBe(2);
  await recordSuccess(t.pool, r4again, { messageId: "<4@x>", accepted: [], response: "ok" });

  // Crashes: to retrying, and on the last attempt to failed.
  await start(a5 as string);
  await recordCrashedAttempt(t.pool, a5 as string);
  await t.pool.query("UPDATE jobs SET max_attempts = 1 WHERE id = $1", [a6]);
  await start(a6 as string);
  await recordCrashedAttempt(t.pool, a6 as string);
  await expectConsistent();

  // Cancels: pending, retrying (a5) and running (from several sources, read under the row's lock).
  await cancelJob(t.db, t.pool, alice, a7 as string);
  await cancelJob(t.db, t.pool, alice, a5 as string);
  await start(e2 as string);
  await cancelJob(t.db, t.pool, alice, e2 as string);
  await expectConsistent();

  // Requeue (one, and many), discard: failed -> pending; discard changes no status.
  await requeueJob(t.db, t.pool, alice, e1 as string);
  await recordFailure(t.pool, await start(a8 as string), { reason: "timeout", ...failure });
  await discardJob(t.db, t.pool, alice, a6 as string);
  expect((await requeueMany(t.db, t.pool, alice, { jobIds: [a8 as string, a6 as string] })).jobIds).toEqual([a8]);
  await expectConsistent();
  await requeueJob(t.db, t.pool, alice, a6 as string);
  await expectConsistent();

  // Workflows: a step's success enqueues the next; a failed step is requeued (resumes); a cancel.
  const w1 = await startWorkflow(t.pool, bob.id, "test_counts_chain", { to: "w@example.com" });
  const stepsOf = async (workflowId: string) =>
    (
      await t.pool.query<{ id: string; status: string }>(
        "SELECT id, status FROM jobs WHERE workflow_id = $1 ORDER BY created_at",
        [workflowId],
      )
    ).rows;
  const [s1] = await stepsOf(w1);
  await recordSuccess(t.pool, await start(s1?.id as string), { messageId: "<s1@x>", accepted: [], response: "ok" });
  const [, s2] = await stepsOf(w1);
  await recordFailure(t.pool, await start(s2?.id as string), { reason: "permanent_error", ...failure });
  await expectConsistent();
  await requeueJob(t.db, t.pool, bob, s2?.id as string);
  await recordSuccess(t.pool, await start(s2?.id as string), { messageId: "<s2@x>", accepted: [], response: "ok" });
  const w2 = await startWorkflow(t.pool, bob.id, "test_counts_chain", { to: "w@example.com" });
  await cancelWorkflow(t.pool, bob.id, w2);
  const w3 = await startWorkflow(t.pool, bob.id, "test_counts_chain", { to: "w@example.com" });
  const [s3] = await stepsOf(w3);
  await start(s3?.id as string);
  await cancelWorkflow(t.pool, undefined, w3);
  expect((await stepsOf(w3)).map((s) => s.status)).toEqual(["cancelled"]);
  await expectConsistent();

  // The demo seed, then the prunes: old finished jobs and old ended workflows go, with their counts.
  await seedJobs(t.pool, alice.id, 120);
  await expectConsistent();
  await t.pool.query(
    "UPDATE jobs SET completed_at = now() - interval '40 days' WHERE status IN ('succeeded', 'cancelled', 'failed')",
  );
  await t.pool.query("UPDATE workflows SET completed_at = now() - interval '40 days' WHERE completed_at IS NOT NULL");
  expect(await pruneJobHistory(t.pool, 30)).toBeGreaterThan(120);
  expect(await pruneWorkflows(t.pool, 30)).toBe(3);
  expect((await t.pool.query("SELECT count(*)::int AS n FROM jobs WHERE workflow_id IS NOT NULL")).rows[0].n).toBe(0);
  await expectConsistent();

  // A deleted user's counts go with their jobs.
  await t.pool.query("DELETE FROM users WHERE id = $1", [bob.id]);
  expect(
    (await t.pool.query("SELECT count(*)::int AS n FROM job_counts WHERE owner_id = $1", [bob.id])).rows[0].n,
  ).toBe(0);
  await expectConsistent();
});

test("concurrent enqueues, starts and successes from two processes stay counted, with no deadlock surfacing", async () => {
  const deadlocks = async () =>
    Number(
      (await t.pool.query("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")).rows[0]
        .deadlocks,
    );
  const deadlocksBefore = await deadlocks();
  // Two pools: two processes' batchers, each with its statements in flight beside the other's.
  const pools = [createPool(t.url, 6), createPool(t.url, 6)];
  try {
    const owners = await Promise.all([1, 2, 3].map((i) => makeUser(t.db, `counts-busy-${i}@example.com`)));
    const ownerOf = (i: number) => owners[i % owners.length] as AuthUser;
    const poolOf = (i: number) => pools[i % pools.length] as pg.Pool;
    const items = (i: number) => (i % 3 === 0 ? [exportItem, emailItem()] : [emailItem(), emailItem(), emailItem()]);
    // 60 callers, 5 rounds each: enqueue, start (on the other pool), finish half; both pools at once.
    let succeeded = 0;
    let running = 0;
    await Promise.all(
      Array.from({ length: 60 }, async (_, i) => {
        const pool = poolOf(i);
        for (let round = 0; round < 5; round++) {
          const ids = await enqueueJobs(pool, ownerOf(i + round).id, items(i + round), options);
          const started = await Promise.all(ids.map((id) => startAttempt(poolOf(i + 1), id, null)));
          await Promise.all(
            started.map(async (row, k) => {
              if (!row) throw new Error("a fresh job did not start");
              if (k % 2 === 1) return void running++;
              expect(await recordSuccess(pool, row, { messageId: "<c@x>", accepted: [], response: "ok" })).toBe(true);
              succeeded += 1;
            }),
          );
        }
      }),
    );
    const { rows } = await t.pool.query(
      "SELECT status, count(*)::int AS n FROM jobs WHERE owner_id = ANY($1::uuid[]) GROUP BY status ORDER BY status",
      [owners.map((o) => o.id)],
    );
    expect(rows).toEqual([
      { status: "running", n: running },
      { status: "succeeded", n: succeeded },
    ]);
    await expectConsistent();
  } finally {
    await Promise.all(pools.map((pool) => pool.end()));
  }
  // Postgres found no deadlock either (one the batchers retried would not have surfaced above).
  expect(await deadlocks()).toBe(deadlocksBefore);
});
