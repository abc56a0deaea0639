// The event hub catching up on a backlog: page by page, in order, and a stop
// ends the catch-up at the next page instead of after the whole backlog (it
// used to hold a server's shutdown for as long as the backlog took to read).
import { afterAll, beforeAll, expect, test } from "vitest";
import { EVENTS_CHANNEL } from "../../server/db/schema.js";
import { EventHub } from "../../server/jobs/event-hub.js";
import { compareCursors, type ScopedEvent } from "../../server/jobs/event-log.js";
import { seedJobs } from "../../server/lifecycle/seed.js";
import { createLogger } from "../../server/logger.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { makeUser } from "../support/fixtures.js";

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
