// The Jobs list's live update (client/src/lib/job-list.ts): a batch of events
// applied to the loaded pages of a list with a filter.
import { expect, test } from "vitest";
import {
  applyEventsToPages,
  applyNewerEvent,
  cursorKey,
  type JobsPage,
  listedBefore,
} from "../../client/src/lib/job-list.js";
import type { JobEvent } from "../../shared/events.js";
import type { JobView } from "../../shared/job-view.js";

const t0 = Date.parse("2026-11-24T00:00:00.000Z");
const at = (ms: number) => new Date(t0 + ms);
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`;

function job(n: number, overrides: Partial<JobView> = {}): JobView {
  return {
    id: uuid(n),
    ownerId: "u1",
    type: "email",
    status: "pending",
    payload: { to: "a@example.com", subject: "s", body: "b" },
    progress: null,
    result: null,
    error: null,
    errorStack: null,
    attempt: 0,
    maxAttempts: 5,
    createdAt: at(n * 1000),
    updatedAt: at(n * 1000),
    startedAt: null,
    completedAt: null,
    runAt: at(n * 1000),
    priority: 0,
    idempotencyKey: null,
    workflowId: null,
    reason: null,
    inDeadLetterQueue: false,
    ...overrides,
  } as JobView;
}

let eventId = 0;
function event(n: number, overrides: Partial<JobEvent>): JobEvent {
  return {
    id: String(++eventId),
    jobId: uuid(n),
    jobType: "email",
    kind: "transition",
    status: "running",
    attempt: 1,
    at: at(100_000),
    ...overrides,
  };
}

/** Pages newest first, as jobs.list returns them: jobs 10..1 in two pages, `more` when older ones follow. */
function pages(jobs: JobView[], size: number, more: boolean): JobsPage[] {
  const out: JobsPage[] = [];
  for (let i = 0; i < jobs.length; i += size) {
    const items = jobs.slice(i, i + size);
    const last = items.at(-1) as JobView;
    const isLast = i + size >= jobs.length;
    out.push({ items, nextCursor: !isLast || more ? `${last.createdAt.toISOString()}_${last.id}` : null });
  }
  return out;
}

const ids = (p: JobsPage[]) => p.flatMap((page) => page.items.map((j) => j.id));

test("the list's order: newer first, then the greater id; a cursor is the key of its page's last row", () => {
  expect(listedBefore({ at: 2, id: uuid(1) }, { at: 1, id: uuid(9) })).toBe(true);
  expect(listedBefore({ at: 1, id: uuid(9) }, { at: 1, id: uuid(1) })).toBe(true);
  expect(listedBefore({ at: 1, id: uuid(1) }, { at: 1, id: uuid(9) })).toBe(false);
  expect(cursorKey(`${at(5).toISOString()}_${uuid(5)}`)).toEqual({ at: t0 + 5, id: uuid(5) });
  expect(cursorKey("nonsense")).toBeUndefined();
});

test("loaded rows update in place; a batch that changes nothing returns the same pages", () => {
  const loaded = pages([job(3), job(2), job(1)], 2, false);
  const { pages: next, removed, entered } = applyEventsToPages(loaded, [event(2, { status: "running" })], {});
  expect(next[0]?.items[1]?.status).toBe("running");
  expect(next[0]?.items[0]).toBe(loaded[0]?.items[0]);
  expect(next[1]).toBe(loaded[1]); // an untouched page is kept
  expect({ removed, entered }).toEqual({ removed: 0, entered: false });
  const same = applyEventsToPages(loaded, [event(1, { kind: "workflow", status: "running" })], {});
  expect(same.pages).toBe(loaded);
});

test("under a state filter, a row that leaves the state is removed (a finished job under running)", () => {
  const running = [job(3), job(2), job(1)].map((j) => ({ ...j, status: "running", attempt: 1 }) as JobView);
  const loaded = pages(running, 50, false);
  const result = applyEventsToPages(
    loaded,
    [event(2, { status: "succeeded" }), event(3, { kind: "progress", progress: { percent: 50 } })],
    { status: "running" },
  );
  expect(ids(result.pages)).toEqual([uuid(3), uuid(1)]);
  expect(result.pages[0]?.items[0]?.progress).toEqual({ percent: 50 });
  expect(result.removed).toBe(1);
  expect(result.entered).toBe(false);
});

test("a job that is not loaded entering the filter asks for a read, unless it sorts after the last page's cursor", () => {
  const loaded = pages([job(10), job(9), job(8)], 3, true); // cursor at job 8; older jobs are the next page's
  const filter = { status: "cancelled" as const };
  // A new job (its first event's time is its creation time) enters on top.
  expect(
    applyEventsToPages(loaded, [event(20, { status: "cancelled", attempt: 0, at: at(20_000) })], filter).entered,
  ).toBe(true);
  // An old job's event says only that it was created no later than the event: it may be among the rows.
  expect(applyEventsToPages(loaded, [event(5, { status: "cancelled", at: at(100_000) })], filter).entered).toBe(true);
  // A job created before the cursor (its creation event proves it) is the next page's.
  expect(applyEventsToPages(loaded, [event(5, { status: "cancelled", at: at(5_000) })], filter).entered).toBe(false);
  // Other states and types, and jobs that entered and left within the batch, ask nothing.
  expect(applyEventsToPages(loaded, [event(20, { status: "running" })], filter).entered).toBe(false);
  expect(
    applyEventsToPages(loaded, [event(20, { status: "cancelled", jobType: "export" })], { ...filter, type: "email" })
      .entered,
  ).toBe(false);
  expect(
    applyEventsToPages(loaded, [event(20, { status: "running" }), event(20, { status: "succeeded" })], {
      status: "running",
    }).entered,
  ).toBe(false);
  // Without a next page every job belongs among the rows.
  const all = pages([job(10), job(9)], 50, false);
  expect(applyEventsToPages(all, [event(1, { status: "cancelled", at: at(1_000) })], filter).entered).toBe(true);
});

test("an event older than the row (read after the event was committed) does not take it back", () => {
  const done = job(1, { status: "succeeded", attempt: 1, updatedAt: at(50_000), completedAt: at(50_000) });
  expect(applyNewerEvent(done, event(1, { status: "running", at: at(40_000) }))).toBe(done);
  // The same millisecond: within an attempt a job only moves forward.
  expect(applyNewerEvent(done, event(1, { status: "running", at: at(50_000) }))).toBe(done);
  expect(applyNewerEvent(done, event(1, { status: "pending", attempt: 0, at: at(50_000) })).status).toBe("pending");
  const running = job(1, { status: "running", attempt: 1, updatedAt: at(50_000) });
  expect(applyNewerEvent(running, event(1, { status: "succeeded", at: at(50_000) })).status).toBe("succeeded");
  // Replayed on a fresh page, a stale event under a filter keeps the row.
  const loaded = pages([done], 50, false);
  expect(
    ids(applyEventsToPages(loaded, [event(1, { status: "running", at: at(40_000) })], { status: "succeeded" }).pages),
  ).toEqual([uuid(1)]);
});

test("a burst of 2,000 new jobs asks for one read and leaves the loaded rows as they are", () => {
  const loaded = pages(
    Array.from({ length: 500 }, (_, i) => job(500 - i)),
    50,
    true,
  );
  const burst = Array.from({ length: 2000 }, (_, i) =>
    event(10_000 + i, { status: "pending", attempt: 0, at: at(900_000) }),
  );
  const result = applyEventsToPages(loaded, burst, {});
  expect(result.entered).toBe(true);
  expect(result.pages).toBe(loaded);
});
