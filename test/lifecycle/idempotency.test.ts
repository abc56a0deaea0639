// Idempotency keys per (owner, key): same payload -> same job, other payload ->
// CONFLICT naming the key, under concurrency, in batches, and after expiry.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { cleanupIdempotencyKeys } from "../../server/tasks/housekeeping.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { emailItem, rejection } from "../support/fixtures.js";

let app: TestApp;
let token: string;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
  token = await app.token("keys@example.com");
});
afterAll(() => app?.close());

const pool = () => app.app.services.pool;

async function jobCount(key: string) {
  const { rows } = await pool().query("SELECT count(*)::int AS n FROM jobs WHERE idempotency_key = $1", [key]);
  return rows[0].n as number;
}

describe("jobs.enqueue with an idempotency key", () => {
  test("the same key and payload give the same jobId", async () => {
    const client = app.client(token);
    const first = await client.jobs.enqueue.mutate(emailItem({ idempotencyKey: "same" }));
    const second = await client.jobs.enqueue.mutate(emailItem({ idempotencyKey: "same" }));
    expect(second.jobId).toBe(first.jobId);
    expect(await jobCount("same")).toBe(1);
  });

  test("50 concurrent identical calls all succeed with one jobId and one job", async () => {
    const client = app.client(token);
    const results = await Promise.all(
      Array.from({ length: 50 }, () => client.jobs.enqueue.mutate(emailItem({ idempotencyKey: "concurrent" }))),
    );
    expect(new Set(results.map((r) => r.jobId)).size).toBe(1);
    expect(await jobCount("concurrent")).toBe(1);
    const { rows } = await pool().query("SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = $1", [
      results[0]?.jobId,
    ]);
    expect(rows[0].n).toBe(1);
  });

  test("the same key with another payload is a CONFLICT naming the key", async () => {
    const client = app.client(token);
    await client.jobs.enqueue.mutate(emailItem({ idempotencyKey: "conflicting" }));
    const error = await client.jobs.enqueue
      .mutate(emailItem({ idempotencyKey: "conflicting" }, "other@example.com"))
      .catch((e: { data?: { code?: string }; message: string }) => e);
    expect(error).toMatchObject({ data: { code: "CONFLICT" } });
    expect((error as Error).message).toContain('"conflicting"');
    expect(await jobCount("conflicting")).toBe(1);
  });

  test("keys are per user: another user's identical key makes their own job", async () => {
    const other = app.client(await app.token("other-keys@example.com"));
    const mine = await app.client(token).jobs.enqueue.mutate(emailItem({ idempotencyKey: "per-user" }));
    const theirs = await other.jobs.enqueue.mutate(emailItem({ idempotencyKey: "per-user" }));
    expect(theirs.jobId).not.toBe(mine.jobId);
  });

  test("an expired key is ignored: the same key makes a new job", async () => {
    const client = app.client(token);
    const first = await client.jobs.enqueue.mutate(emailItem({ idempotencyKey: "expiring" }));
    // Move past the window (24 h by default).
    await pool().query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'expiring'");
    const second = await client.jobs.enqueue.mutate(emailItem({ idempotencyKey: "expiring" }, "new@example.com"));
    expect(second.jobId).not.toBe(first.jobId);
    const third = await client.jobs.enqueue.mutate(emailItem({ idempotencyKey: "expiring" }, "new@example.com"));
    expect(third.jobId).toBe(second.jobId);
  });

  test("the window is IDEMPOTENCY_TTL_HOURS, 24 h by default", async () => {
    await app.client(token).jobs.enqueue.mutate(emailItem({ idempotencyKey: "window" }));
    const { rows } = await pool().query(
      "SELECT extract(epoch FROM expires_at - created_at)::int AS seconds FROM idempotency_keys WHERE key = 'window'",
    );
    expect(rows[0].seconds).toBe(24 * 3600);
  });

  test("the cleanup cron task deletes expired keys only, and is scheduled with graphile-worker", async () => {
    await app.client(token).jobs.enqueue.mutate(emailItem({ idempotencyKey: "old" }));
    await app.client(token).jobs.enqueue.mutate(emailItem({ idempotencyKey: "fresh" }));
    await pool().query("UPDATE idempotency_keys SET expires_at = now() - interval '1 hour' WHERE key = 'old'");
    const task = cleanupIdempotencyKeys.task(app.app.services);
    await task({}, { logger: { info: () => {} } } as never);
    const { rows } = await pool().query("SELECT key FROM idempotency_keys WHERE key IN ('old', 'fresh')");
    expect(rows).toEqual([{ key: "fresh" }]);
  });
});

describe("jobs.enqueueMany with idempotency keys", () => {
  test("the same key twice with the same payload gives the same jobId at both positions", async () => {
    const { jobIds } = await app.client(token).jobs.enqueueMany.mutate({
      jobs: [emailItem({ idempotencyKey: "twice" }), emailItem(), emailItem({ idempotencyKey: "twice" })],
    });
    expect(jobIds).toHaveLength(3);
    expect(jobIds[0]).toBe(jobIds[2]);
    expect(jobIds[1]).not.toBe(jobIds[0]);
    expect(await jobCount("twice")).toBe(1);
  });

  test("a conflict fails the whole batch, names the item's index, and writes nothing", async () => {
    const client = app.client(token);
    await client.jobs.enqueue.mutate(emailItem({ idempotencyKey: "taken" }));
    const { rows: before } = await pool().query("SELECT count(*)::int AS n FROM jobs");
    const error = await rejection(
      client.jobs.enqueueMany.mutate({
        jobs: [emailItem({ idempotencyKey: "batch-a" }), emailItem(), emailItem({ idempotencyKey: "taken" }, "x@y.co")],
      }),
    );
    expect(error).toMatchObject({ data: { code: "CONFLICT" } });
    expect(error.message).toMatch(/jobs\[2\]/);
    expect(error.message).toContain('"taken"');
    const { rows: after } = await pool().query("SELECT count(*)::int AS n FROM jobs");
    expect(after[0].n).toBe(before[0].n);
    expect(await jobCount("batch-a")).toBe(0);
  });

  test("the same key twice in one batch with different payloads is a CONFLICT naming the index", async () => {
    const error = await rejection(
      app.client(token).jobs.enqueueMany.mutate({
        jobs: [emailItem({ idempotencyKey: "dup" }), emailItem({ idempotencyKey: "dup" }, "b@example.com")],
      }),
    );
    expect(error).toMatchObject({ data: { code: "CONFLICT" } });
    expect(error.message).toMatch(/jobs\[1\]/);
  });

  test("a batch repeating an earlier call's key returns the earlier job at that position", async () => {
    const client = app.client(token);
    const earlier = await client.jobs.enqueue.mutate(emailItem({ idempotencyKey: "earlier" }));
    const { jobIds } = await client.jobs.enqueueMany.mutate({
      jobs: [emailItem(), emailItem({ idempotencyKey: "earlier" })],
    });
    expect(jobIds[1]).toBe(earlier.jobId);
    await eventually(async () => (await jobCount("earlier")) === 1);
  });
});
