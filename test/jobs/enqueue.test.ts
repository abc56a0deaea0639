// The one enqueue path: job record, first event and graphile-worker job in one
// transaction; a rollback leaves none of them.
import { afterAll, beforeAll, expect, test } from "vitest";
import { enqueueJobs } from "../../server/jobs/enqueue.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { emailItem, makeUser } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

async function counts() {
  const { rows } = await t.pool.query<{ jobs: number; events: number; queued: number; keys: number }>(
    `SELECT (SELECT count(*)::int FROM jobs) AS jobs, (SELECT count(*)::int FROM job_events) AS events,
            (SELECT count(*)::int FROM graphile_worker._private_jobs) AS queued,
            (SELECT count(*)::int FROM idempotency_keys) AS keys`,
  );
  return rows[0];
}

test("enqueue records the job, its pending event and the graphile job, linked by the job id", async () => {
  const owner = await makeUser(t.db, "enqueue@example.com");
  const runAt = new Date(Date.now() + 60_000);
  const [id] = await enqueueJobs(t.pool, owner.id, [emailItem({ runAt, priority: -5, idempotencyKey: "k1" })], {
    idempotencyTtlHours: 24,
  });
  const job = await t.db.job.findUniqueOrThrow({ where: { id: id as string } });
  expect(job).toMatchObject({
    ownerId: owner.id,
    type: "email",
    status: "pending",
    attempt: 0,
    maxAttempts: 5,
    priority: -5,
    idempotencyKey: "k1",
    payload: { to: "someone@example.com", subject: "Hello", body: "Body" },
  });
  expect(job.runAt.getTime()).toBe(runAt.getTime());
  expect(job.payloadFingerprint).toMatch(/^[0-9a-f]{64}$/);
  const { rows: events } = await t.pool.query("SELECT kind, status, attempt FROM job_events WHERE job_id = $1", [id]);
  expect(events).toEqual([{ kind: "transition", status: "pending", attempt: 0 }]);
  const { rows: queued } = await t.pool.query(
    `SELECT t.identifier, j.payload, j.priority, j.run_at FROM graphile_worker._private_jobs j
       JOIN graphile_worker._private_tasks t ON t.id = j.task_id WHERE j.key = $1`,
    [id],
  );
  expect(queued).toEqual([{ identifier: "email", payload: { jobId: id }, priority: -5, run_at: runAt }]);
});

test("a failure inside the transaction rolls back the job, its event, its key and the graphile job", async () => {
  const owner = await makeUser(t.db, "rollback@example.com");
  // Make graphile-worker's insert fail for this one batch, after our rows were written.
  await t.pool.query(`
    CREATE FUNCTION fail_graphile_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'simulated failure in add_jobs'; END $$;
    CREATE TRIGGER fail_graphile_insert BEFORE INSERT ON graphile_worker._private_jobs
      FOR EACH ROW EXECUTE FUNCTION fail_graphile_insert();`);
  const before = await counts();
  try {
    await expect(
      enqueueJobs(t.pool, owner.id, [emailItem({ idempotencyKey: "rolled-back" }), emailItem()], {
        idempotencyTtlHours: 24,
      }),
    ).rejects.toThrow(/simulated failure/);
    expect(await counts()).toEqual(before);
  } finally {
    await t.pool.query("DROP TRIGGER fail_graphile_insert ON graphile_worker._private_jobs");
  }
  // The key was not consumed: the same call now succeeds.
  const [id] = await enqueueJobs(t.pool, owner.id, [emailItem({ idempotencyKey: "rolled-back" })], {
    idempotencyTtlHours: 24,
  });
  expect(id).toBeDefined();
});

test("enqueueMany writes the whole batch in one transaction and returns ids in input order", async () => {
  const owner = await makeUser(t.db, "batch@example.com");
  const items = Array.from({ length: 25 }, (_, i) => emailItem({}, `user${i}@example.com`));
  const ids = await enqueueJobs(t.pool, owner.id, items, { idempotencyTtlHours: 24 });
  expect(new Set(ids).size).toBe(25);
  const jobs = await t.db.job.findMany({ where: { id: { in: ids } } });
  const byId = new Map(jobs.map((j) => [j.id, j]));
  ids.forEach((id, i) => {
    expect((byId.get(id)?.payload as { to: string } | undefined)?.to).toBe(`user${i}@example.com`);
  });
  const { rows } = await t.pool.query(
    "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = ANY($1)",
    [ids],
  );
  expect(rows[0].n).toBe(25);
});

test("the enqueue function validates even when called without the router", async () => {
  const owner = await makeUser(t.db, "direct@example.com");
  const before = await counts();
  await expect(
    enqueueJobs(t.pool, owner.id, [{ type: "email", payload: { to: "x" } }], { idempotencyTtlHours: 24 }),
  ).rejects.toThrow();
  expect(await counts()).toEqual(before);
});
