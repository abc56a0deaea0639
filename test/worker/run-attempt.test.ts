// The wrapper that owns every transition of an attempt, driven directly against
// a real database with handlers written for each case.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CANCEL_CHANNEL } from "../../server/db/schema.js";
import { PermanentError } from "../../server/errors.js";
import { jobHistory } from "../../server/jobs/event-log.js";
import { recordCrashedAttempt, recordSuccess } from "../../server/lifecycle/attempts.js";
import { type AttemptRow, writeBatch } from "../../server/lifecycle/batched-writes.js";
import { emailTask } from "../../server/tasks/email.js";
import type { TaskDefinition } from "../../server/tasks/types.js";
import { ShutdownError } from "../../server/worker/attempt.js";
import { CancellationListener } from "../../server/worker/cancellations.js";
import { runAttempt } from "../../server/worker/run-attempt.js";
import type { JobType } from "../../shared/jobs.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { attemptDeps, enqueueOne, gate, makeUser, sleep } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

const ok = { messageId: "<m@x>", accepted: ["someone@example.com"], response: "250 OK" };

function task(overrides: Partial<TaskDefinition<"email">>): TaskDefinition<JobType> {
  return {
    ...emailTask,
    backoff: { baseMs: 1, maxMs: 1 },
    timeouts: { softMs: 5_000, hardMs: 10_000 },
    ...overrides,
  } as TaskDefinition<JobType>;
}

/** A task whose handler counts its runs and returns `result`. */
function counted(result: unknown = ok) {
  const counter = {
    runs: 0,
    task: task({
      run: async () => {
        counter.runs += 1;
        return result as typeof ok;
      },
    }),
  };
  return counter;
}

async function job(id: string) {
  return t.db.job.findUniqueOrThrow({ where: { id } });
}

async function eventsOf(jobId: string) {
  return (await jobHistory(t.pool, jobId)).map((e) => e.event);
}

async function graphileJobs(jobId: string) {
  const { rows } = await t.pool.query<{ run_at: Date; locked_at: Date | null }>(
    "SELECT run_at, locked_at FROM graphile_worker._private_jobs WHERE key = $1",
    [jobId],
  );
  return rows;
}

describe("runAttempt", () => {
  test("success: running then succeeded with the result, handler given the re-parsed payload and attempt", async () => {
    const owner = await makeUser(t.db, "ok@example.com");
    const id = await enqueueOne(t.pool, owner);
    let seen: unknown;
    await runAttempt(
      attemptDeps(t.db, t.pool),
      task({
        run: async (ctx) => {
          seen = { payload: ctx.payload, attempt: ctx.attempt, jobId: ctx.jobId };
          return ok;
        },
      }),
      id,
    );
    expect(seen).toEqual({
      payload: { to: "someone@example.com", subject: "Hello", body: "Body" },
      attempt: 1,
      jobId: id,
    });
    const row = await job(id);
    expect(row).toMatchObject({ status: "succeeded", attempt: 1, result: ok, error: null });
    expect(row.startedAt).toBeInstanceOf(Date);
    expect(row.completedAt).toBeInstanceOf(Date);
    expect((await eventsOf(id)).map((e) => e.status)).toEqual(["pending", "running", "succeeded"]);
  });

  test("a transient error schedules a retry with backoff and a new graphile job", async () => {
    const owner = await makeUser(t.db, "transient@example.com");
    const id = await enqueueOne(t.pool, owner);
    const before = Date.now();
    await runAttempt(
      attemptDeps(t.db, t.pool),
      task({
        backoff: { baseMs: 60_000, maxMs: 60_000 },
        run: async () => {
          throw new Error("connection reset");
        },
      }),
      id,
    );
    const row = await job(id);
    expect(row).toMatchObject({ status: "retrying", attempt: 1, error: "connection reset" });
    // Equal jitter: between half and all of the delay.
    expect(row.runAt.getTime()).toBeGreaterThanOrEqual(before + 30_000);
    expect(row.runAt.getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
    const events = await eventsOf(id);
    expect(events.at(-1)).toMatchObject({ status: "retrying", error: "connection reset" });
    expect(events.at(-1)?.nextRunAt?.getTime()).toBe(row.runAt.getTime());
    const queued = await graphileJobs(id);
    // One graphile job per Job: the retry took over the key, at the retry time.
    expect(queued).toHaveLength(1);
    expect(queued[0]?.run_at.getTime()).toBe(row.runAt.getTime());
  });

  test("the last attempt's transient error fails the job into the dead-letter queue (retries_exhausted)", async () => {
    const owner = await makeUser(t.db, "exhaust@example.com");
    const id = await enqueueOne(t.pool, owner);
    const failing = task({
      run: async () => {
        throw new Error("still down");
      },
    });
    for (let i = 0; i < 5; i++) await runAttempt(attemptDeps(t.db, t.pool), failing, id);
    const row = await job(id);
    expect(row).toMatchObject({ status: "failed", attempt: 5, dlqReason: "retries_exhausted", error: "still down" });
    expect(row.errorStack).toContain("still down");
    const statuses = (await eventsOf(id)).map((e) => e.status);
    expect(statuses).toEqual(["pending", ...Array(4).fill(["running", "retrying"]).flat(), "running", "failed"]);
    // A sixth delivery of the graphile job finds a failed job and does nothing.
    await runAttempt(attemptDeps(t.db, t.pool), failing, id);
    expect((await job(id)).attempt).toBe(5);
  });

  test("a PermanentError fails at once, never retried", async () => {
    const owner = await makeUser(t.db, "permanent@example.com");
    const id = await enqueueOne(t.pool, owner);
    await runAttempt(
      attemptDeps(t.db, t.pool),
      task({
        run: async () => {
          throw new PermanentError("mailbox does not exist");
        },
      }),
      id,
    );
    expect(await job(id)).toMatchObject({
      status: "failed",
      attempt: 1,
      dlqReason: "permanent_error",
      error: "mailbox does not exist",
    });
  });

  test("the soft time limit fires the abort signal; on the last attempt the job fails with reason timeout", async () => {
    const owner = await makeUser(t.db, "soft@example.com");
    const id = await enqueueOne(t.pool, owner);
    await t.pool.query("UPDATE jobs SET max_attempts = 1 WHERE id = $1", [id]);
    let aborted = false;
    await runAttempt(
      attemptDeps(t.db, t.pool),
      task({
        timeouts: { softMs: 50, hardMs: 5_000 },
        run: ({ signal }) =>
          new Promise((_resolve, reject) => {
            signal.addEventListener("abort", () => {
              aborted = true;
              reject(new Error("aborted"));
            });
          }),
      }),
      id,
    );
    expect(aborted).toBe(true);
    expect(await job(id)).toMatchObject({ status: "failed", dlqReason: "timeout" });
    expect((await job(id)).error).toMatch(/Soft time limit of 50 ms/);
  });

  test("the hard time limit abandons the attempt; the abandoned handler's late writes are rejected by the fence", async () => {
    const owner = await makeUser(t.db, "fence@example.com");
    const id = await enqueueOne(t.pool, owner);
    const releaseFirst = gate();
    const releaseSecond = gate();
    let lateSignal: AbortSignal | undefined;
    let lateFinished = false;
    const deps = attemptDeps(t.db, t.pool);

    // Attempt 1 ignores its abort signal and outlives the hard limit.
    await runAttempt(
      deps,
      task({
        timeouts: { softMs: 20, hardMs: 60 },
        run: async ({ signal, progress }) => {
          lateSignal = signal;
          await releaseFirst.promise;
          progress({ percent: 99, note: "late write from attempt 1" });
          await sleep(400); // past the progress throttle, so the write is really attempted
          lateFinished = true;
          return { ...ok, messageId: "<late@x>" };
        },
      }),
      id,
    );
    expect(await job(id)).toMatchObject({ status: "retrying", attempt: 1 });
    expect((await job(id)).error).toMatch(/Hard time limit of 60 ms/);
    expect(lateSignal?.aborted).toBe(true);

    // Attempt 2 runs and holds.
    const second = runAttempt(
      deps,
      task({
        run: async ({ progress }) => {
          progress({ percent: 20, note: "attempt 2" });
          await releaseSecond.promise;
          return ok;
        },
      }),
      id,
    );
    await sleep(300);
    expect(await job(id)).toMatchObject({
      status: "running",
      attempt: 2,
      progress: { percent: 20, note: "attempt 2" },
    });

    // The abandoned handler wakes up and writes: nothing of it lands.
    releaseFirst.open();
    await sleep(600);
    expect(lateFinished).toBe(true);
    expect(await job(id)).toMatchObject({
      status: "running",
      attempt: 2,
      progress: { percent: 20, note: "attempt 2" },
    });

    releaseSecond.open();
    await second;
    const row = await job(id);
    expect(row).toMatchObject({ status: "succeeded", attempt: 2, result: ok });
    const notes = (await eventsOf(id)).map((e) => e.progress?.note).filter(Boolean);
    expect(notes).toEqual(["attempt 2"]);
  });

  test("progress is validated, saved, streamed as events and throttled", async () => {
    const owner = await makeUser(t.db, "progress@example.com");
    const id = await enqueueOne(t.pool, owner);
    await runAttempt(
      attemptDeps(t.db, t.pool),
      task({
        run: async ({ progress }) => {
          for (let i = 1; i <= 50; i++) progress({ percent: i * 2, note: `step ${i}`, stage: "sending" });
          // Invalid progress is dropped, not saved.
          progress({ percent: 400 } as never);
          await sleep(300);
          progress({ percent: 100, note: "done", stage: "sent" });
          return ok;
        },
      }),
      id,
    );
    const progressEvents = (await eventsOf(id)).filter((e) => e.kind === "progress");
    // 51 reports collapse to a handful: first at once, the rest trailing per interval.
    expect(progressEvents.length).toBeGreaterThanOrEqual(2);
    expect(progressEvents.length).toBeLessThanOrEqual(4);
    expect(progressEvents.at(-1)?.progress).toEqual({ percent: 100, note: "done", stage: "sent" });
    expect(progressEvents.every((e) => (e.progress?.percent as number) <= 100)).toBe(true);
    expect((await job(id)).progress).toEqual({ percent: 100, note: "done", stage: "sent" });
  });

  test("a job found still running (its worker died) records the crash and starts a fresh attempt at once", async () => {
    const owner = await makeUser(t.db, "crash@example.com");
    const id = await enqueueOne(t.pool, owner);
    // Simulate a worker that started attempt 1 and died.
    await t.pool.query("UPDATE jobs SET status = 'running', attempt = 1, fence = fence + 1 WHERE id = $1", [id]);
    await runAttempt(attemptDeps(t.db, t.pool), task({ run: async () => ok }), id);
    expect(await job(id)).toMatchObject({ status: "succeeded", attempt: 2 });
    const events = await eventsOf(id);
    expect(events.map((e) => e.status)).toEqual(["pending", "retrying", "running", "succeeded"]);
    expect(events[1]).toMatchObject({ reason: "crashed" });
  });

  test("a crashed last attempt fails the job with reason crashed", async () => {
    const owner = await makeUser(t.db, "crash-last@example.com");
    const id = await enqueueOne(t.pool, owner);
    await t.pool.query("UPDATE jobs SET status = 'running', attempt = 5, fence = fence + 1 WHERE id = $1", [id]);
    let ran = false;
    await runAttempt(
      attemptDeps(t.db, t.pool),
      task({
        run: async () => {
          ran = true;
          return ok;
        },
      }),
      id,
    );
    expect(ran).toBe(false);
    expect(await job(id)).toMatchObject({ status: "failed", dlqReason: "crashed" });
  });

  test("a stored payload that no longer matches the schema fails permanently", async () => {
    const owner = await makeUser(t.db, "drift@example.com");
    const id = await enqueueOne(t.pool, owner);
    await t.pool.query(`UPDATE jobs SET payload = '{"to": 42}' WHERE id = $1`, [id]);
    await runAttempt(attemptDeps(t.db, t.pool), task({ run: async () => ok }), id);
    expect(await job(id)).toMatchObject({ status: "failed", dlqReason: "permanent_error" });
  });

  test("a cancelled job is skipped by the worker", async () => {
    const owner = await makeUser(t.db, "skip@example.com");
    const id = await enqueueOne(t.pool, owner);
    await t.pool.query("UPDATE jobs SET status = 'cancelled' WHERE id = $1", [id]);
    let ran = false;
    await runAttempt(
      attemptDeps(t.db, t.pool),
      task({
        run: async () => {
          ran = true;
          return ok;
        },
      }),
      id,
    );
    expect(ran).toBe(false);
    expect((await job(id)).status).toBe("cancelled");
  });

  test("a job handed to this process twice at once runs once: the second is not taken for a crash of the first", async () => {
    const owner = await makeUser(t.db, "twice@example.com");
    const id = await enqueueOne(t.pool, owner);
    // On its last attempt, a mistaken crash record would fail it into the dead-letter queue.
    await t.pool.query("UPDATE jobs SET max_attempts = 1 WHERE id = $1", [id]);
    const hold = gate();
    let runs = 0;
    const handler = task({
      run: async () => {
        runs += 1;
        await hold.promise;
        return ok;
      },
    });
    const deps = attemptDeps(t.db, t.pool);
    const both = Promise.all([runAttempt(deps, handler, id), runAttempt(deps, handler, id)]);
    await sleep(300);
    hold.open();
    await both;
    expect(runs).toBe(1);
    expect(await job(id)).toMatchObject({ status: "succeeded", attempt: 1 });
    expect((await eventsOf(id)).map((e) => e.status)).toEqual(["pending", "running", "succeeded"]);
  });

  test("a job whose success is still being written here is not started again when its graphile job comes back", async () => {
    const owner = await makeUser(t.db, "settling@example.com");
    const id = await enqueueOne(t.pool, owner);
    const deps = { ...attemptDeps(t.db, t.pool), recordSuccessAfterSlot: true };
    // An attempt whose handler succeeded, its success waiting for the database (as when its write failed
    // while Postgres was away and is being retried); graphile-worker's lock on the job was meanwhile released.
    const [started] = await writeBatch(t.pool, [{ kind: "start", jobId: id, processId: null }]);
    const { fence } = started as AttemptRow;
    const landing = sleep(300).then(async () => {
      await recordSuccess(t.pool, started as AttemptRow, ok);
    });
    // What the first attempt leaves behind in this process while its success is on its way.
    const earlier = deps.attempts.add(id);
    for (const state of ["starting", "running", "recording"] as const) earlier.moveTo(state);
    deps.attempts.freeSlot(earlier);
    void landing.then(() => earlier.moveTo("done"));
    const handler = counted();
    await runAttempt(deps, handler.task, id);
    expect(handler.runs).toBe(0);
    expect(await job(id)).toMatchObject({ status: "succeeded", attempt: 1, fence: BigInt(fence) });
    expect((await eventsOf(id)).map((e) => e.status)).toEqual(["pending", "running", "succeeded"]);
  });

  test("a cancel notified while the attempt is starting reaches its handler", async () => {
    const owner = await makeUser(t.db, "cancel-start@example.com");
    const id = await enqueueOne(t.pool, owner);
    const deps = attemptDeps(t.db, t.pool);
    const listener = new CancellationListener(t.url, deps.attempts, deps.logger);
    await listener.start();
    // Hold the job's row, so the start waits; the notification is sent when the lock is let go, before the
    // start can finish: it reaches this process while the attempt is still starting.
    const blocker = await t.pool.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", [id]);
      await blocker.query("SELECT pg_notify($1, $2)", [CANCEL_CHANNEL, id]);
      let aborted: boolean | undefined;
      const attempt = runAttempt(
        deps,
        task({
          // The notification may be handled just before or just after the handler begins: either way it
          // must reach it (before the fix it arrived while nothing was registered, and was lost).
          run: async ({ signal }) => {
            aborted =
              signal.aborted ||
              (await new Promise<boolean>((resolve) => {
                signal.addEventListener("abort", () => resolve(true), { once: true });
                setTimeout(() => resolve(false), 2_000);
              }));
            return ok;
          },
        }),
        id,
      );
      await sleep(200);
      await blocker.query("COMMIT");
      await attempt;
      expect(aborted).toBe(true);
    } finally {
      blocker.release();
      await listener.stop();
    }
  });

  test("a result Postgres cannot store fails the job at once, without running the handler again", async () => {
    const owner = await makeUser(t.db, "unstorable@example.com");
    const id = await enqueueOne(t.pool, owner);
    // Valid for the result schema, but jsonb cannot hold a NUL character.
    const handler = counted({ ...ok, response: "250 \u0000 OK" });
    await runAttempt(attemptDeps(t.db, t.pool), handler.task, id);
    expect(handler.runs).toBe(1);
    const row = await job(id);
    expect(row).toMatchObject({ status: "failed", dlqReason: "permanent_error", attempt: 1 });
    expect(row.error).toMatch(/could not be stored/);
  });

  test("a job this process still runs, swept meanwhile and queued again, runs again once the first attempt ends", async () => {
    const owner = await makeUser(t.db, "swept-while-running@example.com");
    const id = await enqueueOne(t.pool, owner);
    const deps = attemptDeps(t.db, t.pool);
    const hold = gate();
    const began = gate();
    let runs = 0;
    const handler = task({
      run: async () => {
        runs += 1;
        if (runs === 1) {
          began.open();
          await hold.promise;
        }
        return ok;
      },
    });
    const first = runAttempt(deps, handler, id);
    await began.promise;
    // A sweep took this (stalled) process for dead: the attempt is recorded as crashed and queued again,
    // and the new graphile job reaches this same process while its first attempt still runs.
    await recordCrashedAttempt(t.pool, id, { requeue: true });
    const second = runAttempt(deps, handler, id);
    await sleep(200);
    hold.open();
    await Promise.all([first, second]);
    expect(runs).toBe(2);
    expect(await job(id)).toMatchObject({ status: "succeeded", attempt: 2 });
  });

  test("an attempt waiting for an earlier one of the same job gives up when the worker shuts down, touching nothing", async () => {
    const owner = await makeUser(t.db, "shutdown-wait@example.com");
    const id = await enqueueOne(t.pool, owner);
    const stop = new AbortController();
    const deps = { ...attemptDeps(t.db, t.pool), shutdown: stop.signal };
    deps.attempts.add(id).moveTo("running"); // an earlier attempt of the job, never done
    const attempt = runAttempt(deps, task({ run: async () => ok }), id);
    await sleep(100);
    stop.abort();
    await expect(attempt).rejects.toBeInstanceOf(ShutdownError);
    expect(await job(id)).toMatchObject({ status: "pending", attempt: 0 });
  });

  test("a retry is not started before its time, whatever graphile job reaches it early", async () => {
    const owner = await makeUser(t.db, "not-yet@example.com");
    const id = await enqueueOne(t.pool, owner);
    // Retrying in an hour (a server's Retry-After), as recordFailure leaves it.
    await t.pool.query(
      "UPDATE jobs SET status = 'retrying', attempt = 1, run_at = now() + interval '1 hour' WHERE id = $1",
      [id],
    );
    const handler = counted();
    await runAttempt(attemptDeps(t.db, t.pool), handler.task, id);
    expect(handler.runs).toBe(0);
    expect(await job(id)).toMatchObject({ status: "retrying", attempt: 1 });
  });
});
