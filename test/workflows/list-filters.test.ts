// The workflows list's filters (server/workflows/views.ts): "pending" and
// "running" are two readings of a stored running workflow (whether a step has
// started), other statuses are stored as they are, pages follow the cursor,
// and an owner sees only their own.
import type pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { AuthUser } from "../../server/auth/tokens.js";
import { decodePageCursor } from "../../server/jobs/queries.js";
import { enqueueJobs } from "../../server/lifecycle/enqueue.js";
import { listWorkflows } from "../../server/workflows/views.js";
import type { WorkflowStatus } from "../../shared/workflows.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { emailItem, makeUser } from "../support/fixtures.js";

let t: TestDb;
let owner: AuthUser;
let other: AuthUser;
let admin: AuthUser;
/** The owner's workflows by the status the list reports, newest first. */
const expected: Record<string, string[]> = { pending: [], running: [], succeeded: [], failed: [] };

async function addWorkflow(pool: pg.Pool, user: AuthUser, stored: string, stepStarted: boolean, at: number) {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO workflows (id, owner_id, name, input, status, steps_total, created_at)
     VALUES (gen_random_uuid(), $1, 'notify_all', '{}', $2, 1, now() - make_interval(secs => $3))
     RETURNING id`,
    [user.id, stored, 1000 - at],
  );
  const id = (rows[0] as { id: string }).id;
  const [jobId] = await enqueueJobs(pool, user.id, [emailItem()], { idempotencyTtlHours: 1 });
  await pool.query("UPDATE jobs SET workflow_id = $1, status = $2 WHERE id = $3", [
    id,
    stepStarted ? "running" : "pending",
    jobId,
  ]);
  return id;
}

beforeAll(async () => {
  t = await openTestDb();
  owner = await makeUser(t.db, "lists@example.com");
  other = await makeUser(t.db, "other-lists@example.com");
  admin = await makeUser(t.db, "admin-lists@example.com", "admin");
  const plan: [stored: string, started: boolean, reported: string][] = [
    ["running", false, "pending"],
    ["running", true, "running"],
    ["succeeded", true, "succeeded"],
    ["running", true, "running"],
    ["failed", true, "failed"],
    ["running", false, "pending"],
    ["succeeded", true, "succeeded"],
  ];
  for (const [i, [stored, started, reported]] of plan.entries()) {
    const id = await addWorkflow(t.pool, owner, stored, started, i);
    expected[reported]?.unshift(id);
  }
  await addWorkflow(t.pool, other, "running", true, 100);
});
afterAll(() => t?.close());

/** Every page of the list, following the cursor, `limit` at a time. */
async function allPages(user: AuthUser, status: WorkflowStatus | undefined, limit: number) {
  const ids: string[] = [];
  let cursor: { at: Date; id: string } | undefined;
  for (let pages = 0; pages < 50; pages++) {
    const page = await listWorkflows(t.pool, user, { status, cursor, limit });
    ids.push(...page.items.map((item) => item.id));
    if (!page.nextCursor) return ids;
    cursor = decodePageCursor(page.nextCursor);
  }
  throw new Error("the cursor never ended");
}

test("each status filter returns the workflows the list reports with that status, newest first", async () => {
  for (const status of ["pending", "running", "succeeded", "failed"] as const) {
    const { items } = await listWorkflows(t.pool, owner, { status, limit: 50 });
    expect(items.map((item) => item.id)).toEqual(expected[status]);
    for (const item of items) expect(item.status).toBe(status);
  }
  expect((await listWorkflows(t.pool, owner, { status: "cancelled", limit: 50 })).items).toEqual([]);
});

test("pages of one follow the cursor through every workflow once, with and without a status", async () => {
  const everything = await listWorkflows(t.pool, owner, { limit: 50 });
  expect(everything.items).toHaveLength(7);
  expect(everything.nextCursor).toBeNull();
  expect(await allPages(owner, undefined, 1)).toEqual(everything.items.map((item) => item.id));
  expect(await allPages(owner, "pending", 1)).toEqual(expected.pending);
  expect(await allPages(owner, "running", 1)).toEqual(expected.running);
  expect(await allPages(owner, undefined, 3)).toEqual(everything.items.map((item) => item.id));
});

test("an owner sees only their own; an admin sees everyone's", async () => {
  expect((await listWorkflows(t.pool, other, { limit: 50 })).items).toHaveLength(1);
  expect((await listWorkflows(t.pool, admin, { limit: 50 })).items).toHaveLength(8);
  expect((await listWorkflows(t.pool, admin, { status: "running", limit: 50 })).items).toHaveLength(3);
});
