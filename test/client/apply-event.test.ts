// The event reducer the list and detail views use to apply live events.
import { expect, test } from "vitest";
import { applyEvent, applyEventToList } from "../../client/src/lib/apply-event.js";
import type { JobEvent } from "../../shared/events.js";
import type { JobView } from "../../shared/job-view.js";

const at = new Date("2026-11-24T00:00:00.000Z");

function job(overrides: Partial<JobView> = {}): JobView {
  return {
    id: "j1",
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
    createdAt: at,
    updatedAt: at,
    startedAt: null,
    completedAt: null,
    runAt: at,
    priority: 0,
    idempotencyKey: null,
    reason: null,
    inDeadLetterQueue: false,
    ...overrides,
  } as JobView;
}

function event(overrides: Partial<JobEvent>): JobEvent {
  return {
    id: "1-1",
    jobId: "j1",
    jobType: "email",
    kind: "transition",
    status: "running",
    attempt: 1,
    at,
    ...overrides,
  };
}

test("a transition sets status and attempt; running clears the old progress and error", () => {
  const next = applyEvent(job({ error: "old", progress: { percent: 40 } }), event({ status: "running", attempt: 2 }));
  expect(next).toMatchObject({ status: "running", attempt: 2, progress: null, error: null, startedAt: at });
});

test("progress applies to the running attempt only; a stale attempt's progress is ignored", () => {
  const running = job({ status: "running", attempt: 2 });
  expect(
    applyEvent(running, event({ kind: "progress", attempt: 2, progress: { percent: 50, note: "half" } })).progress,
  ).toEqual({
    percent: 50,
    note: "half",
  });
  expect(applyEvent(running, event({ kind: "progress", attempt: 1, progress: { percent: 99 } }))).toBe(running);
  const done = job({ status: "succeeded", attempt: 2 });
  expect(applyEvent(done, event({ kind: "progress", attempt: 2, progress: { percent: 10 } }))).toBe(done);
});

test("retrying carries the error and next run time; failed puts the job in the dead-letter queue with its reason", () => {
  const next = new Date("2026-11-24T00:01:00.000Z");
  expect(
    applyEvent(job({ status: "running", attempt: 1 }), event({ status: "retrying", error: "boom", nextRunAt: next })),
  ).toMatchObject({
    status: "retrying",
    error: "boom",
    runAt: next,
  });
  expect(
    applyEvent(
      job({ status: "running", attempt: 5 }),
      event({ status: "failed", attempt: 5, error: "x", reason: "retries_exhausted" }),
    ),
  ).toMatchObject({ status: "failed", reason: "retries_exhausted", inDeadLetterQueue: true, completedAt: at });
});

test("requeue (pending) takes the job out of the dead-letter queue", () => {
  const failed = job({ status: "failed", reason: "timeout", inDeadLetterQueue: true, error: "slow", attempt: 5 });
  expect(applyEvent(failed, event({ status: "pending", attempt: 0 }))).toMatchObject({
    status: "pending",
    attempt: 0,
    reason: null,
    error: null,
    inDeadLetterQueue: false,
  });
});

test("an event for another job changes nothing; in a list only the matching job is replaced", () => {
  const a = job({ id: "a" });
  const b = job({ id: "b" });
  expect(applyEvent(a, event({ jobId: "b" }))).toBe(a);
  const list = [a, b];
  const updated = applyEventToList(list, event({ jobId: "b", status: "running" }));
  expect(updated[0]).toBe(a);
  expect(updated[1]?.status).toBe("running");
  expect(applyEventToList(list, event({ jobId: "zzz" }))).toBe(list);
});

test("replaying a job's events from its creation rebuilds its final state", () => {
  const events: JobEvent[] = [
    event({ status: "running", attempt: 1 }),
    event({ kind: "progress", attempt: 1, progress: { percent: 30 } }),
    event({ status: "retrying", attempt: 1, error: "temporary" }),
    event({ status: "running", attempt: 2 }),
    event({ status: "succeeded", attempt: 2 }),
  ];
  const final = events.reduce(applyEvent, job());
  expect(final).toMatchObject({ status: "succeeded", attempt: 2, error: null, completedAt: at });
});
