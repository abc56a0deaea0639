// The pool plans every statement once for any parameters
// (plan_cache_mode = force_generic_plan, server/db/pool.ts). A query with an
// optional filter written "$n IS NULL OR owner_id = $n" then gets one plan
// that reads every owner's rows. These check, on that generic plan, that an
// owner's overview and workflows list read only that owner's rows.
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { overviewQueries } from "../../server/http/routers/stats.js";
import { enqueueJobs } from "../../server/lifecycle/enqueue.js";
import { listWorkflowsQuery } from "../../server/workflows/views.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { emailItem, makeUser } from "../support/fixtures.js";

let t: TestDb;
let big: string;
let small: string;
beforeAll(async () => {
  t = await openTestDb();
  big = (await makeUser(t.db, "big@example.com")).id;
  small = (await makeUser(t.db, "small@example.com")).id;
  // The small owner's rows come first, so a scan in creation order meets the big owner's before them.
  await enqueueJobs(t.pool, small, [emailItem(), emailItem(), emailItem()], { idempotencyTtlHours: 1 });
  await enqueueJobs(
    t.pool,
    big,
    Array.from({ length: 300 }, () => emailItem()),
    { idempotencyTtlHours: 1 },
  );
  // Many owners, as in a real deployment: the planner's estimate for "owner_id = $1" is then a few rows.
  const { rows: others } = await t.pool.query<{ id: string }>(
    "INSERT INTO users (id, email) SELECT gen_random_uuid(), 'other' || i || '@example.com' FROM generate_series(1, 100) AS i RETURNING id",
  );
  for (const other of others) await enqueueJobs(t.pool, other.id, [emailItem()], { idempotencyTtlHours: 1 });
  const insertWorkflows = (owner: string, n: number) =>
    t.pool.query(
      `INSERT INTO workflows (id, owner_id, name, input, status, steps_total, created_at)
       SELECT gen_random_uuid(), $1, 'notify_all', '{}', 'succeeded', 0, now() + make_interval(secs => i)
         FROM generate_series(1, $2) AS i`,
      [owner, n],
    );
  // A third of the big owner's jobs are dead letters.
  await t.pool.query(
    "UPDATE jobs SET status = 'failed', dlq_reason = 'permanent_error' WHERE owner_id = $1 AND random() < 0.33",
    [big],
  );
  await insertWorkflows(small, 2);
  await t.pool.query("UPDATE workflows SET created_at = created_at - interval '1 hour'");
  await insertWorkflows(big, 100);
  await t.pool.query("ANALYZE jobs; ANALYZE workflows");
});
afterAll(() => t?.close());

interface PlanNode {
  "Relation Name"?: string;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Rows Removed by Filter"?: number;
  "Rows Removed by Index Recheck"?: number;
  Plans?: PlanNode[];
}

/**
 * Rows of `table` the query's generic plan read (returned or filtered out), as
 * EXPLAIN ANALYZE counts them. Sequential scans are priced out, as they would
 * be on a table big enough for the difference to matter.
 */
async function rowsRead(query: { text: string; values: unknown[] }, table: string): Promise<number> {
  const client: pg.PoolClient = await t.pool.connect();
  const name = `q_${randomUUID().replaceAll("-", "")}`;
  try {
    await client.query("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off");
    await client.query(`PREPARE ${name} AS ${query.text}`);
    const args = query.values.map((value) =>
      client.escapeLiteral(value instanceof Date ? value.toISOString() : String(value)),
    );
    const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
      `EXPLAIN (ANALYZE, FORMAT JSON) EXECUTE ${name}${args.length > 0 ? `(${args.join(", ")})` : ""}`,
    );
    let read = 0;
    const walk = (node: PlanNode) => {
      if (node["Relation Name"] === table) {
        const perLoop =
          (node["Actual Rows"] ?? 0) +
          (node["Rows Removed by Filter"] ?? 0) +
          (node["Rows Removed by Index Recheck"] ?? 0);
        read += perLoop * (node["Actual Loops"] ?? 1);
      }
      for (const child of node.Plans ?? []) walk(child);
    };
    walk((rows[0] as { "QUERY PLAN": [{ Plan: PlanNode }] })["QUERY PLAN"][0].Plan);
    return read;
  } finally {
    await client.query(`DEALLOCATE ${name}; RESET ALL`);
    client.release();
  }
}

test("an owner's job counts read only that owner's jobs", async () => {
  expect(await rowsRead(overviewQueries(small, 15).counts, "jobs")).toBe(3);
});

test("an owner's dead-letter count reads at most that owner's jobs", async () => {
  expect(await rowsRead(overviewQueries(small, 15).deadLetters, "jobs")).toBeLessThanOrEqual(3);
});

test("an owner's workflows page reads that owner's workflows only, from the cursor on", async () => {
  // A page of 1 reads 2 rows (one more, to know whether a next page exists).
  expect(await rowsRead(listWorkflowsQuery(small, { limit: 1 }), "workflows")).toBe(2);
  const { rows } = await t.pool.query<{ created_at: Date; id: string }>(
    "SELECT created_at, id FROM workflows WHERE owner_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1",
    [small],
  );
  const first = rows[0] as { created_at: Date; id: string };
  const next = listWorkflowsQuery(small, { limit: 1, cursor: { at: first.created_at, id: first.id } });
  expect(await rowsRead(next, "workflows")).toBe(1);
});

test("the unscoped (admin) statements still run, and count everyone", async () => {
  const { counts, deadLetters, buckets } = overviewQueries(undefined, 15);
  expect((await t.pool.query<{ n: number }>(counts)).rows.reduce((sum, row) => sum + row.n, 0)).toBe(403);
  const failed = await t.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE status = 'failed'");
  expect(failed.rows[0]?.n).toBeGreaterThan(0);
  expect((await t.pool.query<{ n: number }>(deadLetters)).rows[0]?.n).toBe(failed.rows[0]?.n);
  expect((await t.pool.query(buckets)).rows).toHaveLength(15);
  expect((await t.pool.query(listWorkflowsQuery(undefined, { limit: 500 }))).rows).toHaveLength(102);
  expect((await t.pool.query(listWorkflowsQuery(undefined, { limit: 500, status: "running" }))).rows).toHaveLength(0);
});
