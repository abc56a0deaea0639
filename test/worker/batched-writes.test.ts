// The worker's hot writes, coalesced: the Batcher's grouping, and the batch
// statement's guards and events against a real database.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Batcher } from "../../server/db/batcher.js";
import { createPool } from "../../server/db/pool.js";
import { EVENTS_CHANNEL, type JobRow } from "../../server/db/schema.js";
import { jobHistory } from "../../server/jobs/event-log.js";
import { recordSuccessBatched, startAttemptBatched, writeBatch } from "../../server/lifecycle/batched-writes.js";
import { Doorbell } from "../../server/lifecycle/doorbell.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { enqueueOne, gate, makeUser, sleep } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

describe("Batcher", () => {
  test("requests of one tick go in one batch, answered in order", async () => {
    const batches: number[][] = [];
    const batcher = new Batcher<number, number>(async (inputs) => {
      batches.push(inputs);
      return inputs.map((n) => n * 10);
    });
    const answers = await Promise.all([1, 2, 3, 4, 5].map((n) => batcher.submit(n)));
    expect(answers).toEqual([10, 20, 30, 40, 50]);
    expect(batches).toEqual([[1, 2, 3, 4, 5]]);
  });

  test("while the slots are busy, requests queue up and go together in the next batch", async () => {
    const batches: number[][] = [];
    const hold = gate();
    const batcher = new Batcher<number, number>(
      async (inputs) => {
        batches.push(inputs);
        if (batches.length === 1) await hold.promise;
        return inputs;
      },
      { slots: 1 },
    );
    const first = batcher.submit(1);
    await sleep(10); // the first batch is in flight now
    const rest = [2, 3, 4].map((n) => batcher.submit(n));
    await sleep(10);
    expect(batches).toEqual([[1]]); // one slot: the others wait
    hold.open();
    expect(await Promise.all([first, ...rest])).toEqual([1, 2, 3, 4]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  test("with two slots, a second batch runs beside the first", async () => {
    let running = 0;
    let most = 0;
    const batcher = new Batcher<number, number>(
      async (inputs) => {
        running += 1;
        most = Math.max(most, running);
        await sleep(20);
        running -= 1;
        return inputs;
      },
      { slots: 2 },
    );
    const first = batcher.submit(1);
    await sleep(5);
    const second = batcher.submit(2);
    await sleep(5);
    const third = batcher.submit(3);
    await Promise.all([first, second, third]);
    expect(most).toBe(2);
  });

  test("a failed batch fails each of its requests, and the next batch still runs", async () => {
    let calls = 0;
    const batcher = new Batcher<number, number>(async (inputs) => {
      calls += 1;
      if (calls === 1) throw new Error("database gone");
      return inputs;
    });
    const failed = await Promise.allSettled([batcher.submit(1), batcher.submit(2)]);
    expect(failed.map((r) => r.status)).toEqual(["rejected", "rejected"]);
    expect(await batcher.submit(3)).toBe(3);
  });
});

describe("writeBatch", () => {
  test("starts and successes in one statement, each with its event; the guards skip what they must", async () => {
    const owner = await makeUser(t.db, "batch@example.com");
    const [a, b, c] = [
      await enqueueOne(t.pool, owner),
      await enqueueOne(t.pool, owner),
      await enqueueOne(t.pool, owner),
    ];
    const started = await writeBatch(t.pool, [
      { kind: "start", jobId: a, processId: null },
      { kind: "start", jobId: b, processId: null },
    ]);
    const [rowA, rowB] = started as JobRow[];
    expect(rowA?.status).toBe("running");
    expect(rowA?.attempt).toBe(1);
    expect(rowB?.id).toBe(b);

    // One batch: a's success (right fence), b's success with a stale fence, c's start,
    // and a second start of a (no longer pending: skipped).
    const outcomes = await writeBatch(t.pool, [
      { kind: "succeed", jobId: a, fence: rowA?.fence as string, result: { messageId: "<a@x>" } },
      { kind: "succeed", jobId: b, fence: String(Number(rowB?.fence) + 1), result: {} },
      { kind: "start", jobId: c, processId: null },
      { kind: "start", jobId: a, processId: null },
    ]);
    expect(outcomes[0]).toBe(true);
    expect(outcomes[1]).toBe(false);
    expect((outcomes[2] as JobRow).status).toBe("running");
    expect(outcomes[3]).toBeUndefined();

    const job = await t.db.job.findUniqueOrThrow({ where: { id: a } });
    expect(job.status).toBe("succeeded");
    expect(job.result).toEqual({ messageId: "<a@x>" });
    expect((await t.db.job.findUniqueOrThrow({ where: { id: b } })).status).toBe("running");
    const statuses = async (id: string) => (await jobHistory(t.pool, id)).map((e) => e.event.status);
    expect(await statuses(a)).toEqual(["pending", "running", "succeeded"]);
    expect(await statuses(b)).toEqual(["pending", "running"]);
    expect(await statuses(c)).toEqual(["pending", "running"]);
  });

  test("progress, a success with its last progress and receipt, and a stale success's receipt, in one statement", async () => {
    const owner = await makeUser(t.db, "batch-receipts@example.com");
    const [a, b, c] = [
      await enqueueOne(t.pool, owner),
      await enqueueOne(t.pool, owner),
      await enqueueOne(t.pool, owner),
    ];
    const [rowA, rowB, rowC] = (await writeBatch(t.pool, [
      { kind: "start", jobId: a, processId: null },
      { kind: "start", jobId: b, processId: null },
      { kind: "start", jobId: c, processId: null },
    ])) as (JobRow & { receipt: unknown })[];
    expect(rowA?.receipt).toBeNull(); // a first attempt has none
    const receipt = { messageId: "<a@x>", accepted: ["a@x"], response: "250 OK" };
    const outcomes = await writeBatch(t.pool, [
      { kind: "progress", jobId: c, fence: rowC?.fence as string, progress: { percent: 40 } },
      {
        kind: "succeed",
        jobId: a,
        fence: rowA?.fence as string,
        result: receipt,
        progress: { percent: 100, note: "Sent" },
        receipt,
      },
      // b's attempt is stale (its job moved on): no success, but what it did is kept.
      {
        kind: "succeed",
        jobId: b,
        fence: String(Number(rowB?.fence) + 1),
        result: {},
        receipt: { messageId: "<b@x>" },
      },
      { kind: "progress", jobId: b, fence: "999", progress: { percent: 1 } },
    ]);
    expect(outcomes).toEqual([true, true, false, false]);

    const history = async (id: string) =>
      (await jobHistory(t.pool, id)).map(
        (e) => `${e.event.kind}:${e.event.status}:${JSON.stringify(e.event.progress ?? null)}`,
      );
    expect(await history(a)).toEqual([
      "transition:pending:null",
      "transition:running:null",
      'progress:running:{"note":"Sent","percent":100}', // jsonb orders keys
      "transition:succeeded:null",
    ]);
    expect(await history(c)).toEqual([
      "transition:pending:null",
      "transition:running:null",
      'progress:running:{"percent":40}',
    ]);
    const { rows } = await t.pool.query<{ job_id: string; receipt: unknown }>(
      "SELECT job_id, receipt FROM job_receipts WHERE job_id = ANY($1::uuid[]) ORDER BY job_id = $2 DESC",
      [[a, b, c], a],
    );
    expect(rows).toEqual([
      { job_id: a, receipt },
      { job_id: b, receipt: { messageId: "<b@x>" } },
    ]);
    expect((await t.db.job.findUniqueOrThrow({ where: { id: a } })).progress).toEqual({ percent: 100, note: "Sent" });

    // A later attempt of b finds the receipt its stale attempt kept.
    await t.pool.query("UPDATE jobs SET status = 'retrying' WHERE id = $1", [b]);
    const [again] = (await writeBatch(t.pool, [{ kind: "start", jobId: b, processId: null }])) as (JobRow & {
      receipt: unknown;
    })[];
    expect(again).toMatchObject({ attempt: 2, receipt: { messageId: "<b@x>" } });
  });
});

describe("batched writes through the batcher", () => {
  test("a write the database refuses fails alone; the others in its batch are recorded", async () => {
    const owner = await makeUser(t.db, "isolate@example.com");
    const [a, b] = [await enqueueOne(t.pool, owner), await enqueueOne(t.pool, owner)];
    const [rowA] = (await writeBatch(t.pool, [{ kind: "start", jobId: a, processId: null }])) as JobRow[];
    // Same tick, one batch: a's result holds a NUL, which jsonb cannot store; b starts.
    const [refused, started] = await Promise.allSettled([
      recordSuccessBatched(t.pool, a, rowA?.fence as string, { text: "nul \u0000 here" }),
      startAttemptBatched(t.pool, b, null),
    ]);
    expect(refused.status).toBe("rejected");
    expect(started.status === "fulfilled" && (started.value as JobRow).status).toBe("running");
    expect((await t.db.job.findUniqueOrThrow({ where: { id: a } })).status).toBe("running");
  });

  test("a job asked to start twice in one batch starts once", async () => {
    const owner = await makeUser(t.db, "twice@example.com");
    const id = await enqueueOne(t.pool, owner);
    const outcomes = await writeBatch(t.pool, [
      { kind: "start", jobId: id, processId: null },
      { kind: "start", jobId: id, processId: null },
    ]);
    expect((outcomes[0] as JobRow).attempt).toBe(1);
    expect(outcomes[1]).toBeUndefined();
  });
});

describe("Doorbell", () => {
  test("rings after the write, and coalesces rings that come while one is in flight", async () => {
    const listener = new pg.Client({ connectionString: t.url });
    await listener.connect();
    let heard = 0;
    listener.on("notification", () => {
      heard += 1;
    });
    await listener.query(`LISTEN ${EVENTS_CHANNEL}`);
    try {
      // A ring still on its way from an earlier test's writes (the pool's own doorbell) is not counted.
      await sleep(200);
      heard = 0;
      const doorbell = new Doorbell(t.pool);
      for (let i = 0; i < 20; i++) doorbell.ring();
      await sleep(300);
      expect(heard).toBeGreaterThanOrEqual(1);
      expect(heard).toBeLessThanOrEqual(2);
    } finally {
      await listener.end();
    }
  });
});

describe("planning", () => {
  test("the batch statement is planned once per connection, not at every execution", async () => {
    const pool = createPool(t.url, 1); // one connection: every batch runs on it
    try {
      const owner = await makeUser(t.db, "planned@example.com");
      for (let i = 0; i < 8; i++) {
        const jobId = await enqueueOne(pool, owner);
        const [started] = (await writeBatch(pool, [{ kind: "start", jobId, processId: null }])) as [JobRow];
        await writeBatch(pool, [{ kind: "succeed", jobId, fence: started.fence, result: {} }]);
      }
      const { rows } = await pool.query<{ generic: string; custom: string }>(
        `SELECT generic_plans::text AS generic, custom_plans::text AS custom
           FROM pg_prepared_statements WHERE name = 'typed_jobs_write_batch'`,
      );
      // Postgres's default plans the first five executions afresh, and later ones
      // too whenever a fresh plan looks cheaper (in the drain bench, nearly every batch).
      expect(rows[0]).toEqual({ generic: "16", custom: "0" });
    } finally {
      await pool.end();
    }
  });
});
