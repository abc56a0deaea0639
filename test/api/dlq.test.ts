// Cancel, retry, and the dead-letter queue through the API: actions legal only
// in the right state (CONFLICT names the state), requeue keeps history.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { emailItem } from "../support/fixtures.js";

let app: TestApp;
let client: ReturnType<TestApp["client"]>;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
  client = app.client(await app.token("operator-user@example.com"));
});
afterAll(() => app?.close());

async function failedJob(reason = "retries_exhausted", error = "SMTP unreachable") {
  const { jobId } = await client.jobs.enqueue.mutate(emailItem());
  await app.app.services.pool.query(
    `UPDATE jobs SET status = 'failed', attempt = max_attempts, dlq_reason = $2, error = $3, completed_at = now()
      WHERE id = $1`,
    [jobId, reason, error],
  );
  return jobId;
}

const codeOf = (promise: Promise<unknown>) =>
  promise.then(
    () => "ok",
    (e: { data?: { code?: string }; message: string }) => ({ code: e.data?.code, message: e.message }),
  );

describe("jobs.cancel", () => {
  test("cancels a pending job and removes its queued graphile job", async () => {
    const { jobId } = await client.jobs.enqueue.mutate(emailItem());
    const job = await client.jobs.cancel.mutate({ jobId });
    expect(job).toMatchObject({ id: jobId, status: "cancelled" });
    const { rows } = await app.app.services.pool.query(
      "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = $1",
      [jobId],
    );
    expect(rows[0].n).toBe(0);
  });

  test("on a job in a state where cancel is illegal: CONFLICT naming the state", async () => {
    const { jobId } = await client.jobs.enqueue.mutate(emailItem());
    await client.jobs.cancel.mutate({ jobId });
    expect(await codeOf(client.jobs.cancel.mutate({ jobId }))).toEqual({
      code: "CONFLICT",
      message: expect.stringContaining("cancelled"),
    });
    const failed = await failedJob();
    expect(await codeOf(client.jobs.cancel.mutate({ jobId: failed }))).toEqual({
      code: "CONFLICT",
      message: expect.stringContaining("failed"),
    });
  });
});

describe("the dead-letter queue", () => {
  test("dlq.list shows failed jobs with reason and lastError", async () => {
    const jobId = await failedJob("permanent_error", "550 mailbox unavailable");
    const { items, nextCursor } = await client.dlq.list.query({});
    const item = items.find((i) => i.id === jobId);
    expect(item).toMatchObject({ status: "failed", reason: "permanent_error", lastError: "550 mailbox unavailable" });
    expect(nextCursor).toBeNull();
  });

  test("dlq.requeue sends the job back to pending for a fresh series, history kept", async () => {
    const jobId = await failedJob();
    const job = await client.dlq.requeue.mutate({ jobId });
    expect(job).toMatchObject({ status: "pending", attempt: 0, error: null, reason: null, inDeadLetterQueue: false });
    const detail = await client.jobs.get.query({ jobId });
    expect(detail.events.map((e) => e.status)).toEqual(["pending", "pending"]);
    const { rows } = await app.app.services.pool.query(
      "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = $1",
      [jobId],
    );
    expect(rows[0].n).toBe(1);
    expect((await client.dlq.list.query({})).items.some((i) => i.id === jobId)).toBe(false);
  });

  test("jobs.retry is the same operation as dlq.requeue, and is CONFLICT on a job that is not failed", async () => {
    const jobId = await failedJob();
    expect(await client.jobs.retry.mutate({ jobId })).toMatchObject({ status: "pending" });
    expect(await codeOf(client.jobs.retry.mutate({ jobId }))).toEqual({
      code: "CONFLICT",
      message: expect.stringContaining("pending"),
    });
  });

  test("dlq.discard keeps the job failed but out of the queue; jobs.retry still works after", async () => {
    const jobId = await failedJob();
    const discarded = await client.dlq.discard.mutate({ jobId });
    expect(discarded).toMatchObject({ status: "failed", inDeadLetterQueue: false });
    expect((await client.dlq.list.query({})).items.some((i) => i.id === jobId)).toBe(false);
    expect(await codeOf(client.dlq.discard.mutate({ jobId }))).toMatchObject({ code: "CONFLICT" });
    expect(await client.jobs.retry.mutate({ jobId })).toMatchObject({ status: "pending" });
  });

  test("dlq.list pages by cursor", async () => {
    for (let i = 0; i < 5; i++) await failedJob();
    const seen = new Set<string>();
    let cursor: string | null | undefined;
    do {
      const page = await client.dlq.list.query({ limit: 2, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      for (const item of page.items) {
        expect(seen.has(item.id)).toBe(false);
        seen.add(item.id);
      }
      cursor = page.nextCursor;
    } while (cursor);
    const { rows } = await app.app.services.pool.query(
      "SELECT count(*)::int AS n FROM jobs WHERE status = 'failed' AND discarded_at IS NULL",
    );
    expect(seen.size).toBe(rows[0].n);
  });
});
