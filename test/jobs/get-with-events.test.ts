// jobs.get reads the row and the history in two statements; a transition
// committed between them must not leave a row older than its events (a client
// that skips events it holds would keep the old state for good).
import { afterAll, beforeAll, expect, test } from "vitest";
import type { AuthUser } from "../../server/auth/tokens.js";
import type { Queryable } from "../../server/db/schema.js";
import { getJobWithEvents } from "../../server/jobs/queries.js";
import { cancelJob } from "../../server/lifecycle/actions.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { enqueueOne, makeUser } from "../support/fixtures.js";

let t: TestDb;
let owner: AuthUser;
beforeAll(async () => {
  t = await openTestDb();
  owner = await makeUser(t.db, "consistent@example.com");
});
afterAll(() => t?.close());

test("a transition committed between the row and the history is read again, so the two agree", async () => {
  const jobId = await enqueueOne(t.pool, owner);
  let moved = false;
  // The history's reader: the first time, the job is cancelled just before the history is read.
  const sql = {
    query: async (text: string, values: unknown[]) => {
      if (!moved) {
        moved = true;
        await cancelJob(t.db, t.pool, owner, jobId);
      }
      return t.pool.query(text, values);
    },
  } as unknown as Queryable;
  const job = await getJobWithEvents(t.db, sql, owner, jobId);
  expect(moved).toBe(true);
  expect(job.events.map((e) => (e.kind === "transition" ? e.status : e.kind))).toEqual(["pending", "cancelled"]);
  expect(job.status).toBe("cancelled");
});
