// The one enqueue path: job record, first event and graphile-worker job written
// atomically (one statement without keys, one transaction with them); a
// failure leaves none of them.
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { EVENTS_CHANNEL } from "../../server/db/schema.js";
import type { FieldIssuesError } from "../../server/errors.js";
import { enqueueJobs } from "../../server/lifecycle/enqueue.js";
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

test("without a key: the job, its pending event, the graphile job at the same run_at, and one ring after commit", async () => {
  const owner = await makeUser(t.db, "unkeyed@example.com");
  const listener = new pg.Client({ connectionString: t.url });
  await listener.connect();
  const notifications: string[] = [];
  const rang = new Promise<void>((resolve) => {
    listener.on("notification", (n) => {
      notifications.push(n.channel);
      resolve();
    });
  });
  await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
  try {
    const ids = await enqueueJobs(t.pool, owner.id, [emailItem(), emailItem({ priority: 3 }, "b@example.com")], {
      idempotencyTtlHours: 24,
    });
    const { rows } = await t.pool.query(
      `SELECT j.id, j.status, j.priority, j.idempotency_key, j.payload->>'to' AS "to", j.run_at = g.run_at AS same_run_at,
              g.priority AS graphile_priority, g.payload AS graphile_payload,
              (SELECT array_agg(e.kind || ':' || e.status || ':' || e.attempt) FROM job_events e WHERE e.job_id = j.id) AS events
         FROM jobs j JOIN graphile_worker._private_jobs g ON g.key = j.id::text
        WHERE j.id = ANY($1::uuid[]) ORDER BY array_position($1::uuid[], j.id)`,
      [ids],
    );
    expect(rows).toEqual(
      ids.map((id, i) => ({
        id,
        status: "pending",
        priority: i === 0 ? 0 : 3,
        idempotency_key: null,
        to: i === 0 ? "someone@example.com" : "b@example.com",
        same_run_at: true,
        graphile_priority: i === 0 ? 0 : 3,
        graphile_payload: { jobId: id },
        events: ["transition:pending:0"],
      })),
    );
    // The doorbell rings after the commit, on its own (lifecycle/doorbell.ts): wait for it.
    await rang;
    await listener.query("SELECT 1");
    expect(notifications).toEqual([EVENTS_CHANNEL]);
  } finally {
    await listener.end();
  }
});

test("without a key, a failure in add_jobs leaves no job, no event and no graphile job", async () => {
  const owner = await makeUser(t.db, "rollback-unkeyed@example.com");
  await t.pool.query(`
    CREATE FUNCTION fail_graphile_insert_unkeyed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'simulated failure in add_jobs'; END $$;
    CREATE TRIGGER fail_graphile_insert_unkeyed BEFORE INSERT ON graphile_worker._private_jobs
      FOR EACH ROW EXECUTE FUNCTION fail_graphile_insert_unkeyed();`);
  const before = await counts();
  try {
    await expect(
      enqueueJobs(t.pool, owner.id, [emailItem(), emailItem({}, "b@example.com")], { idempotencyTtlHours: 24 }),
    ).rejects.toThrow(/simulated failure/);
    expect(await counts()).toEqual(before);
  } finally {
    await t.pool.query("DROP TRIGGER fail_graphile_insert_unkeyed ON graphile_worker._private_jobs");
  }
});

test("a mixed batch: a key repeated in the batch and held by an earlier job maps both positions to that job", async () => {
  const owner = await makeUser(t.db, "mixed@example.com");
  const [earlier] = await enqueueJobs(t.pool, owner.id, [emailItem({ idempotencyKey: "held" })], {
    idempotencyTtlHours: 24,
  });
  const before = await counts();
  const ids = await enqueueJobs(
    t.pool,
    owner.id,
    [
      emailItem({ idempotencyKey: "held" }),
      emailItem(),
      emailItem({ idempotencyKey: "new" }),
      emailItem({ idempotencyKey: "held" }),
    ],
    { idempotencyTtlHours: 24 },
  );
  expect(ids[0]).toBe(earlier);
  expect(ids[3]).toBe(earlier);
  expect(new Set([earlier, ids[1], ids[2]]).size).toBe(3);
  // Two new jobs (unkeyed and "new"), each with its event and graphile job; one new key.
  expect(await counts()).toEqual({
    jobs: (before?.jobs ?? 0) + 2,
    events: (before?.events ?? 0) + 2,
    queued: (before?.queued ?? 0) + 2,
    keys: (before?.keys ?? 0) + 1,
  });
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

test("enqueues made at the same time share one statement; one that fails there fails alone and loses nothing", async () => {
  const owner = await makeUser(t.db, "together@example.com");
  const enqueue = (body: string) =>
    enqueueJobs(t.pool, owner.id, [emailItem({ payload: { to: "t@example.com", subject: "S", body } })], {
      idempotencyTtlHours: 24,
    }).then(
      ([id]) => id as string,
      (error: Error) => error,
    );
  // A payload the database refuses (a trigger stands in for any per-row failure).
  await t.pool.query(`
    CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NEW.payload->>'body' = 'poison' THEN RAISE EXCEPTION 'poisoned payload'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER refuse_poison BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION refuse_poison();`);
  try {
    // Same tick: one batch, whose statement fails; each enqueue then runs alone.
    const outcomes = await Promise.all([enqueue("a"), enqueue("poison"), enqueue("c"), enqueue("d")]);
    expect(outcomes[1]).toBeInstanceOf(Error);
    expect((outcomes[1] as Error).message).toMatch(/poisoned payload/);
    const ids = [outcomes[0], outcomes[2], outcomes[3]] as string[];
    for (const id of ids) expect(typeof id).toBe("string");
    const { rows } = await t.pool.query<{ job_id: string }>("SELECT job_id FROM job_events WHERE owner_id = $1", [
      owner.id,
    ]);
    expect(rows.map((r) => r.job_id).sort()).toEqual([...ids].sort());
  } finally {
    await t.pool.query("DROP TRIGGER refuse_poison ON jobs; DROP FUNCTION refuse_poison()");
  }

  // Without a failure, one batch is one transaction: its events share a txid.
  const together = await Promise.all(["e", "f", "g", "h"].map((body) => enqueue(body)));
  const { rows: txids } = await t.pool.query<{ n: number }>(
    "SELECT count(DISTINCT txid)::int AS n FROM job_events WHERE job_id = ANY($1::uuid[])",
    [together],
  );
  expect(txids[0]?.n).toBe(1);
});

test("a big enqueue goes in a statement of its own; small ones made with it still share one", async () => {
  const owner = await makeUser(t.db, "big@example.com");
  const enqueue = (body: string) =>
    enqueueJobs(t.pool, owner.id, [emailItem({ payload: { to: "t@example.com", subject: "S", body } })], {
      idempotencyTtlHours: 24,
    }).then(([id]) => id as string);
  const [big, ...small] = await Promise.all([enqueue("x".repeat(300_000)), enqueue("a"), enqueue("b"), enqueue("c")]);
  const txidOf = async (ids: string[]) =>
    (
      await t.pool.query<{ txid: string }>(
        "SELECT DISTINCT txid::text AS txid FROM job_events WHERE job_id = ANY($1::uuid[])",
        [ids],
      )
    ).rows.map((r) => r.txid);
  const shared = await txidOf(small);
  expect(shared).toHaveLength(1);
  expect(await txidOf([big as string])).not.toEqual(shared);
  expect((await t.db.job.findUniqueOrThrow({ where: { id: big as string } })).payload).toMatchObject({ subject: "S" });
});

test("an enqueue checks each webhook endpoint once, however many deliveries name it, and names each bad item", async () => {
  const owner = await makeUser(t.db, "owner-checks@example.com");
  const other = await makeUser(t.db, "owner-checks-other@example.com");
  const endpoint = async (ownerId: string) => {
    const id = randomUUID();
    await t.pool.query(
      "INSERT INTO webhook_endpoints (id, owner_id, url, secret) VALUES ($1, $2, 'https://example.test/hook', 'whsec_x')",
      [id, ownerId],
    );
    return id;
  };
  const mine = await endpoint(owner.id);
  const theirs = await endpoint(other.id);
  let checks = 0;
  // The pool as enqueueJobs sees it, counting the ownership checks it runs.
  const counting = new Proxy(t.pool, {
    get(target, prop) {
      const value = Reflect.get(target, prop, target);
      if (prop !== "query") return typeof value === "function" ? value.bind(target) : value;
      return (...args: Parameters<typeof target.query>) => {
        const [config] = args as unknown[];
        const text = typeof config === "string" ? config : (config as { text?: string }).text;
        if (text?.includes("FROM webhook_endpoints")) checks += 1;
        return (target.query as (...a: unknown[]) => unknown)(...args);
      };
    },
  });
  const delivery = (endpointId: string) => ({ type: "webhook", payload: { endpointId, event: "e", data: {} } });
  const ids = await enqueueJobs(
    counting,
    owner.id,
    Array.from({ length: 50 }, () => delivery(mine)),
    {
      idempotencyTtlHours: 24,
    },
  );
  expect(ids).toHaveLength(50);
  expect(checks).toBe(1);
  checks = 0;
  const refused = await enqueueJobs(counting, owner.id, [delivery(mine), delivery(theirs), delivery(theirs)], {
    idempotencyTtlHours: 24,
  }).catch((error: FieldIssuesError) => error);
  expect(checks).toBe(2);
  expect((refused as FieldIssuesError).issues.map((issue) => issue.path)).toEqual([
    ["jobs", 1, "payload", "endpointId"],
    ["jobs", 2, "payload", "endpointId"],
  ]);
});
