// The event hub catching up on a backlog: page by page, in order, and a stop
// ends the catch-up at the next page instead of after the whole backlog (it
// used to hold a server's shutdown for as long as the backlog took to read).
// With nobody subscribed it reads no event, only moves its head on; a
// subscriber that joins meanwhile (even while such a move is in flight) still
// gets every later event, once and in order.
import type pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { AuthUser } from "../../server/auth/tokens.js";
import { createPool } from "../../server/db/pool.js";
import { EVENTS_CHANNEL } from "../../server/db/schema.js";
import { EventHub, type Subscription } from "../../server/jobs/event-hub.js";
import { type Cursor, compareCursors, type ScopedEvent } from "../../server/jobs/event-log.js";
import { enqueueJobs } from "../../server/lifecycle/enqueue.js";
import { seedJobs } from "../../server/lifecycle/seed.js";
import { createLogger } from "../../server/logger.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { emailItem, enqueueOne, makeUser } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

/** Events written after `hub` started: 3 per seeded job, so `jobs * 3` of them, several pages. */
async function backlog(hub: EventHub, jobs: number): Promise<void> {
  const owner = await makeUser(t.db, `backlog-${jobs}@example.com`);
  await seedJobs(t.pool, owner.id, jobs);
  expect(hub.subscriberCount).toBe(1);
  await t.pool.query(`SELECT pg_notify('${EVENTS_CHANNEL}', '')`);
}

test("a hub catches up on a backlog of several pages: every event once, in cursor order", async () => {
  const hub = new EventHub(t.pool, t.url, createLogger("silent"));
  await hub.start();
  const seen: ScopedEvent[] = [];
  const live = hub.subscribe({});
  live.follow(
    (events) => seen.push(...events),
    () => {},
  );
  await backlog(hub, 1_500);
  const deadline = Date.now() + 30_000;
  while (seen.length < 4_500 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  await hub.stop();
  expect(seen).toHaveLength(4_500);
  for (let i = 1; i < seen.length; i++) {
    expect(compareCursors((seen[i - 1] as ScopedEvent).cursor, (seen[i] as ScopedEvent).cursor)).toBeLessThan(0);
  }
});

test("stopping a hub in the middle of a catch-up ends it at the next page", async () => {
  const hub = new EventHub(t.pool, t.url, createLogger("silent"));
  await hub.start();
  let delivered = 0;
  let stopped: Promise<void> | undefined;
  const live = hub.subscribe({});
  live.follow(
    (events) => {
      delivered += events.length;
      stopped ??= hub.stop(); // at the first page
    },
    () => {},
  );
  await backlog(hub, 2_000); // 6,000 events: 6 pages of 1,000
  const deadline = Date.now() + 30_000;
  while (!stopped && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await stopped;
  expect(delivered).toBe(1_000);
  // The hub's position is the end of that first page: it read no further.
  const { rows } = await t.pool.query<{ n: string }>(
    "SELECT count(*) AS n FROM job_events WHERE (txid, id) <= ($1::text::xid8, $2::bigint)",
    [hub.currentHead().txid, hub.currentHead().id],
  );
  const before = await t.pool.query<{ n: string }>("SELECT count(*) AS n FROM job_events");
  expect(Number(before.rows[0]?.n) - Number(rows[0]?.n)).toBe(5_000);
});

/**
 * A pool for a hub that counts what the hub asks: reads that return event rows
 * (jobEventsSince's select list), and head reads (the horizon, no event row).
 * `onNextHeadRead` runs once, synchronously, when the next head read is sent:
 * while it is in flight.
 */
function watchedPool(url: string) {
  const pool = createPool(url, 2);
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  const counts = { eventReads: 0, headReads: 0 };
  let onNextHeadRead: (() => void) | undefined;
  pool.query = ((...args: unknown[]) => {
    const config = args[0];
    const text = typeof config === "string" ? config : ((config as { text?: string }).text ?? "");
    if (/FROM job_events/.test(text) && /AS job_id/.test(text)) counts.eventReads++;
    else if (/pg_snapshot_xmin/.test(text)) {
      counts.headReads++;
      const hook = onNextHeadRead;
      onNextHeadRead = undefined;
      hook?.();
    }
    return query(...args);
  }) as typeof pool.query;
  return {
    pool,
    counts,
    onNextHeadRead: (hook: () => void) => {
      onNextHeadRead = hook;
    },
  };
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** `promise`, or a failure naming `what` if it takes too long (rather than the test's own timeout). */
async function within<T>(promise: Promise<T>, what: string, ms = 15_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** The log's events after `from` (up to `to`), in cursor order, as cursors. */
async function logCursors(pool: pg.Pool, from: Cursor, to?: Cursor): Promise<Cursor[]> {
  const { rows } = await pool.query<Cursor>(
    `SELECT txid::text AS txid, id::text AS id FROM job_events
      WHERE (txid, id) > ($1::text::xid8, $2::bigint)
        AND ($3::text IS NULL OR (txid, id) <= ($3::text::xid8, $4::bigint))
      ORDER BY job_events.txid, job_events.id`,
    [from.txid, from.id, to?.txid ?? null, to?.id ?? null],
  );
  return rows;
}

async function lastLogged(pool: pg.Pool): Promise<Cursor> {
  const { rows } = await pool.query<Cursor>(
    "SELECT txid::text AS txid, id::text AS id FROM job_events ORDER BY job_events.txid DESC, job_events.id DESC LIMIT 1",
  );
  if (!rows[0]) throw new Error("no events");
  return rows[0];
}

interface Watcher {
  live: Subscription;
  seen: Cursor[];
}

function watch(hub: EventHub): Watcher {
  const live = hub.subscribe({});
  const seen: Cursor[] = [];
  live.follow(
    (events) => {
      for (const event of events) seen.push(event.cursor);
    },
    () => {},
  );
  return { live, seen };
}

/**
 * Writes one more job, waits until `watcher` has it, and checks that what it
 * got is exactly the log after its start, up to what it got: none missed, none
 * twice, in order. Then it leaves.
 */
async function checkAndLeave(watcher: Watcher, owner: AuthUser): Promise<void> {
  await enqueueOne(t.pool, owner);
  const target = await lastLogged(t.pool);
  await until(() => {
    const last = watcher.seen.at(-1);
    return last !== undefined && compareCursors(last, target) >= 0;
  }, "the subscriber to get the last write");
  watcher.live.close();
  const expected = await logCursors(t.pool, watcher.live.startCursor, watcher.seen.at(-1));
  expect(watcher.seen).toEqual(expected);
}

test("with nobody subscribed, rings read no event, yet the head keeps up: a later subscriber gets no backlog", async () => {
  const watched = watchedPool(t.url);
  const hub = new EventHub(watched.pool, t.url, createLogger("silent"));
  await hub.start();
  try {
    const owner = await makeUser(t.db, "nobody-listening@example.com");
    // 1,000 events in 10 enqueues, each ringing the doorbell.
    for (let i = 0; i < 10; i++) {
      const items = Array.from({ length: 100 }, () => emailItem());
      await enqueueJobs(t.pool, owner.id, items, { idempotencyTtlHours: 24 });
    }
    const backlogEnd = await lastLogged(t.pool);
    await until(() => compareCursors(hub.currentHead(), backlogEnd) >= 0, "the head to pass the backlog");
    expect(watched.counts.eventReads).toBe(0);
    expect(watched.counts.headReads).toBeGreaterThan(1);

    const watcher = watch(hub);
    await checkAndLeave(watcher, owner);
    // Only what came after it joined: not one of the 1,000.
    expect(watcher.seen.length).toBeGreaterThan(0);
    expect(compareCursors(watcher.seen[0] as Cursor, backlogEnd)).toBeGreaterThan(0);
    expect(watched.counts.eventReads).toBeGreaterThan(0);
  } finally {
    await hub.stop();
    await watched.pool.end();
  }
});

test("subscribers joining while writes are in flight, or while a head-only read is, get every later event once, in order", async () => {
  const watched = watchedPool(t.url);
  const hub = new EventHub(watched.pool, t.url, createLogger("silent"));
  await hub.start();
  try {
    const owner = await makeUser(t.db, "joining@example.com");
    let joinedDuringHeadRead = 0;
    for (let round = 0; round < 60; round++) {
      expect(hub.subscriberCount).toBe(0);
      // Joins the moment the hub sends its next head-only read, before the answer.
      const joined = new Promise<Watcher>((resolve) =>
        watched.onNextHeadRead(() => {
          joinedDuringHeadRead++;
          resolve(watch(hub));
        }),
      );
      await enqueueOne(t.pool, owner); // rings: the hub's read is head-only, nobody is subscribed yet
      await checkAndLeave(await within(joined, "a head-only read"), owner);

      expect(hub.subscriberCount).toBe(0);
      // Joins while three writes are on their way (the hub, with nobody
      // subscribed, may be moving its head on meanwhile).
      const writes = Promise.all([enqueueOne(t.pool, owner), enqueueOne(t.pool, owner), enqueueOne(t.pool, owner)]);
      await new Promise((resolve) => setImmediate(resolve));
      const during = watch(hub);
      await writes;
      await checkAndLeave(during, owner);
    }
    expect(joinedDuringHeadRead).toBe(60);
  } finally {
    await hub.stop();
    await watched.pool.end();
  }
}, 120_000);
