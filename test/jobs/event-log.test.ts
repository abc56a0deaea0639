// The event log read by (txid, id) cursor: numeric order, the settled horizon,
// and cursor encoding.
import { afterAll, beforeAll, expect, test } from "vitest";
import { withTransaction } from "../../server/db/pool.js";
import {
  compareCursors,
  decodeCursor,
  encodeCursor,
  jobEventsSince,
  jobHistory,
  START,
} from "../../server/jobs/event-log.js";
import { enqueueJobs } from "../../server/lifecycle/enqueue.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { emailItem, gate, makeUser } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

const numeric = (id: string) => {
  const [txid, row] = id.split("-").map(BigInt);
  return { txid: txid ?? 0n, row: row ?? 0n };
};

// The horizon is cluster-wide: a transaction open in another test file's
// database holds our committed events back for a moment, so wait it out.
async function settledEventsSince(cursor: typeof START, ownerId: string) {
  for (let tries = 0; ; tries++) {
    const read = await jobEventsSince(t.pool, cursor, { ownerId });
    if (!read.heldBack || tries === 200) return read;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

test("events come back in numeric (txid, id) order, not text order", async () => {
  const owner = await makeUser(t.db, "order@example.com");
  // One transaction, so one txid and ids crossing a digit boundary (…9, 10, 11…).
  await enqueueJobs(
    t.pool,
    owner.id,
    Array.from({ length: 25 }, () => emailItem()),
    { idempotencyTtlHours: 24 },
  );
  // Many transactions, so txids that differ.
  for (let i = 0; i < 5; i++) await enqueueJobs(t.pool, owner.id, [emailItem()], { idempotencyTtlHours: 24 });
  const { events } = await settledEventsSince(START, owner.id);
  expect(events).toHaveLength(30);
  for (let i = 1; i < events.length; i++) {
    const a = numeric(events[i - 1]?.event.id ?? "");
    const b = numeric(events[i]?.event.id ?? "");
    expect(a.txid < b.txid || (a.txid === b.txid && a.row < b.row)).toBe(true);
  }
  const jobId = events[12]?.event.jobId as string;
  expect((await jobHistory(t.pool, jobId)).map((e) => e.event.id)).toEqual([events[12]?.event.id]);
});

test("a reader does not see past a transaction that is still open, then sees everything once it commits", async () => {
  const owner = await makeUser(t.db, "horizon@example.com");
  const [first] = await enqueueJobs(t.pool, owner.id, [emailItem()], { idempotencyTtlHours: 24 });
  const before = await settledEventsSince(START, owner.id);
  const cursor = before.events.at(-1)?.cursor ?? START;
  expect(before.events.map((e) => e.event.jobId)).toEqual([first]);

  const written = gate();
  const commit = gate();
  const open = withTransaction(t.pool, async (tx) => {
    await tx.query("SELECT pg_current_xact_id()"); // holds a txid older than what follows
    written.open();
    await commit.promise;
  });
  await written.promise;
  await enqueueJobs(t.pool, owner.id, [emailItem()], { idempotencyTtlHours: 24 });
  const held = await jobEventsSince(t.pool, cursor, { ownerId: owner.id });
  expect(held.events).toHaveLength(0); // committed, but behind an older open transaction
  expect(held.heldBack).toBe(true);
  commit.open();
  await open;
  const after = await settledEventsSince(cursor, owner.id);
  expect(after.events).toHaveLength(1);
});

test("cursors encode as '<txid>-<id>' and decode back; malformed ones are rejected", () => {
  const cursor = { txid: "1000", id: "9" };
  expect(encodeCursor(cursor)).toBe("1000-9");
  expect(decodeCursor("1000-9")).toEqual(cursor);
  for (const bad of ["", "abc", "1-", "-1", "1-2-3", "1.5-2", "99999999999999999999999-1"]) {
    expect(decodeCursor(bad)).toBeUndefined();
  }
  expect(compareCursors({ txid: "999", id: "10" }, { txid: "1000", id: "9" })).toBe(-1);
  expect(compareCursors({ txid: "1000", id: "10" }, { txid: "1000", id: "9" })).toBe(1);
  expect(compareCursors(cursor, { ...cursor })).toBe(0);
  // Leading zeros are accepted and dropped, so cursors compare by value.
  expect(decodeCursor("001000-0009")).toEqual(cursor);
  expect(decodeCursor("0-0")).toEqual({ txid: "0", id: "0" });
  expect(compareCursors(decodeCursor("0999-10") as typeof cursor, cursor)).toBe(-1);
  // Only values the columns can hold (xid8, bigint): others could never name an event.
  expect(decodeCursor("18446744073709551615-9223372036854775807")).toBeDefined();
  expect(decodeCursor("18446744073709551616-1")).toBeUndefined();
  expect(decodeCursor("1-9223372036854775808")).toBeUndefined();
});
