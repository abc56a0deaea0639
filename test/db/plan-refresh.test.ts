// db/plan-refresh.ts: a hot table that has doubled since ANALYZE last saw it is
// analysed again (which invalidates the plans cached while it was small), once.
import { afterAll, beforeAll, expect, test } from "vitest";
import { PlanRefresh } from "../../server/db/plan-refresh.js";
import { seedJobs } from "../../server/lifecycle/seed.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { makeUser } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

const relpages = async (table: string) =>
  (await t.pool.query<{ relpages: number }>("SELECT relpages FROM pg_class WHERE oid = $1::regclass", [table])).rows[0]
    ?.relpages;

test("a hot table that filled up since it was planned is analysed once; one that did not grow is left alone", async () => {
  // Autovacuum's own ANALYZE must not get there first (this database is the test's own).
  await t.pool.query("ALTER TABLE jobs SET (autovacuum_enabled = false)");
  await t.pool.query("ALTER TABLE job_events SET (autovacuum_enabled = false)");
  const refresh = new PlanRefresh(t.pool);
  await refresh.check(); // whatever the template left behind
  expect(await refresh.check()).toEqual([]);
  const owner = await makeUser(t.db, "plan-refresh@example.com");
  await seedJobs(t.pool, owner.id, 5_000);
  expect(await relpages("jobs")).toBe(0); // not yet analysed: the planner sees an empty table
  const analysed = await refresh.check();
  expect(analysed).toEqual(expect.arrayContaining(["jobs", "job_events"]));
  expect(await relpages("jobs")).toBeGreaterThan(8);
  expect(await refresh.check()).toEqual([]);
});
