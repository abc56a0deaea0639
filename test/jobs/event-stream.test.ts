// The pushed event stream (followJobEvents, which the SSE route serves): a
// reader that stops taking events is ended at the hub's per-subscriber limit,
// as a buffered subscriber is; one that catches up is not; and a reader that
// leaves while its stream opens leaves nothing subscribed (either stream).
import { afterAll, beforeAll, expect, test } from "vitest";
import type { AuthUser } from "../../server/auth/tokens.js";
import { EventHub, MAX_BUFFERED, SubscriberOverflowError } from "../../server/jobs/event-hub.js";
import { jobHistory, type ScopedEvent } from "../../server/jobs/event-log.js";
import { type EventSink, followJobEvents, jobEventStream } from "../../server/jobs/event-stream.js";
import { enqueueJobs } from "../../server/lifecycle/enqueue.js";
import { createLogger } from "../../server/logger.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { emailItem, makeUser } from "../support/fixtures.js";

let t: TestDb;
let hub: EventHub;
beforeAll(async () => {
  t = await openTestDb();
  hub = new EventHub(t.pool, t.url, createLogger("silent"));
  await hub.start();
});
afterAll(async () => {
  await hub?.stop();
  await t?.close();
});

/** More events than the limit, in a few enqueue batches (each a hub read or more). */
async function enqueueMoreThanTheLimit(owner: AuthUser): Promise<number> {
  const total = MAX_BUFFERED + 1;
  for (let done = 0; done < total; done += 1_000) {
    const items = Array.from({ length: Math.min(1_000, total - done) }, () => emailItem());
    await enqueueJobs(t.pool, owner.id, items, { idempotencyTtlHours: 24 });
  }
  return total;
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test("a reader that takes nothing is ended with SubscriberOverflowError past the limit, and leaves the hub", async () => {
  const owner = await makeUser(t.db, "stalled@example.com");
  let written = 0;
  const stalled: EventSink = {
    write: (events: readonly ScopedEvent[]) => {
      written += events.length;
      return false; // the socket is full
    },
    drained: () => new Promise(() => {}), // and never drains
  };
  const abort = new AbortController();
  const stream = followJobEvents({ ...t, hub, user: owner }, {}, hub.currentHead(), abort.signal, stalled);
  const ended = stream.then(
    () => undefined,
    (error: unknown) => error,
  );
  await until(() => hub.subscriberCount === 1);
  await enqueueMoreThanTheLimit(owner);
  expect(await ended).toBeInstanceOf(SubscriberOverflowError);
  expect(written).toBeGreaterThan(MAX_BUFFERED);
  expect(hub.subscriberCount).toBe(0);
  abort.abort();
});

test("a reader that catches up after each write is never ended, and gets every event once", async () => {
  const owner = await makeUser(t.db, "keeping-up@example.com");
  const seen = new Set<string>();
  let duplicates = 0;
  const keepingUp: EventSink = {
    write: (events: readonly ScopedEvent[]) => {
      for (const { event } of events) {
        if (seen.has(event.id)) duplicates += 1;
        seen.add(event.id);
      }
      return false; // full for a moment...
    },
    drained: () => Promise.resolve(), // ...and drained at once
  };
  const abort = new AbortController();
  const stream = followJobEvents({ ...t, hub, user: owner }, {}, hub.currentHead(), abort.signal, keepingUp);
  let failure: unknown;
  stream.catch((error: unknown) => {
    failure = error;
  });
  await until(() => hub.subscriberCount === 1);
  const total = await enqueueMoreThanTheLimit(owner);
  await until(() => seen.size === total || failure !== undefined);
  expect(failure).toBeUndefined();
  expect(duplicates).toBe(0);
  abort.abort();
  await stream;
  expect(hub.subscriberCount).toBe(0);
});

test("a reader gone while its stream opens (resuming: the retained-history check) leaves no subscription behind", async () => {
  const owner = await makeUser(t.db, "gone@example.com");
  const [jobId] = await enqueueJobs(t.pool, owner.id, [emailItem()], { idempotencyTtlHours: 24 });
  const lastEventId = (await jobHistory(t.pool, jobId as string))[0]?.event.id as string;
  const deps = { ...t, hub, user: owner };
  const sink: EventSink = { write: () => true, drained: () => Promise.resolve() };

  // Aborted during the awaits inside the stream's opening, after it subscribed to the hub.
  const pushed = new AbortController();
  const push = followJobEvents(deps, { lastEventId }, hub.currentHead(), pushed.signal, sink);
  pushed.abort();
  await push;
  expect(hub.subscriberCount).toBe(0);

  const pulled = new AbortController();
  const pull = jobEventStream(deps, { lastEventId }, hub.currentHead(), pulled.signal);
  const first = pull.next();
  pulled.abort();
  await first;
  expect(hub.subscriberCount).toBe(0);
  await pull.return(undefined);
});
