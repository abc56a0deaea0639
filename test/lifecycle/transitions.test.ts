// Guarded writes: an illegal transition or a stale fencing token matches no
// row and changes nothing, never a silent overwrite.
import { afterAll, beforeAll, expect, test } from "vitest";
import { recordProgress } from "../../server/lifecycle/attempts.js";
import { applyTransition } from "../../server/lifecycle/transitions.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { enqueueOne, makeUser } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

async function eventCount(jobId: string) {
  const { rows } = await t.pool.query("SELECT count(*)::int AS n FROM job_events WHERE job_id = $1", [jobId]);
  return rows[0].n as number;
}

test("a legal transition updates the job and appends exactly one event", async () => {
  const owner = await makeUser(t.db, "legal@example.com");
  const id = await enqueueOne(t.pool, owner);
  const row = await applyTransition(t.pool, { jobId: id, to: "cancelled", event: {} });
  expect(row?.status).toBe("cancelled");
  expect(await eventCount(id)).toBe(2);
});

test("an illegal transition changes nothing and writes no event", async () => {
  const owner = await makeUser(t.db, "illegal@example.com");
  const id = await enqueueOne(t.pool, owner);
  expect(await applyTransition(t.pool, { jobId: id, to: "succeeded", event: {} })).toBeUndefined();
  expect(await applyTransition(t.pool, { jobId: id, to: "failed", event: {} })).toBeUndefined();
  await applyTransition(t.pool, { jobId: id, to: "cancelled", event: {} });
  expect(await applyTransition(t.pool, { jobId: id, to: "running", event: {} })).toBeUndefined();
  const job = await t.db.job.findUniqueOrThrow({ where: { id } });
  expect(job.status).toBe("cancelled");
  expect(await eventCount(id)).toBe(2);
});

test("a write carrying a stale fencing token is rejected", async () => {
  const owner = await makeUser(t.db, "stale@example.com");
  const id = await enqueueOne(t.pool, owner);
  const first = await applyTransition(t.pool, {
    jobId: id,
    to: "running",
    set: { attempt: "attempt + 1", fence: "fence + 1" },
    event: {},
  });
  const staleFence = first?.fence as string;
  await t.pool.query("UPDATE jobs SET status = 'retrying' WHERE id = $1", [id]);
  const second = await applyTransition(t.pool, {
    jobId: id,
    to: "running",
    set: { attempt: "attempt + 1", fence: "fence + 1" },
    event: {},
  });
  expect(BigInt(second?.fence as string)).toBeGreaterThan(BigInt(staleFence));
  expect(await applyTransition(t.pool, { jobId: id, to: "succeeded", fence: staleFence, event: {} })).toBeUndefined();
  expect(await recordProgress(t.pool, id, staleFence, { percent: 50 })).toBe(false);
  expect(await recordProgress(t.pool, id, second?.fence as string, { percent: 60 })).toBe(true);
  const job = await t.db.job.findUniqueOrThrow({ where: { id } });
  expect(job).toMatchObject({ status: "running", attempt: 2, progress: { percent: 60 } });
});

test("the database refuses a status outside the state list", async () => {
  const owner = await makeUser(t.db, "check@example.com");
  const id = await enqueueOne(t.pool, owner);
  await expect(t.pool.query("UPDATE jobs SET status = 'exploded' WHERE id = $1", [id])).rejects.toThrow(
    /jobs_status_check/,
  );
});
