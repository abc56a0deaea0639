// The API behind the dashboard: queue figures, bulk dead-letter actions,
// search, and the development mail sink's messages.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { emailItem, rejection } from "../support/fixtures.js";

let app: TestApp;
let alice: ReturnType<TestApp["client"]>;
let bob: ReturnType<TestApp["client"]>;
let admin: ReturnType<TestApp["client"]>;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
  alice = app.client(await app.token("alice-dash@example.com"));
  bob = app.client(await app.token("bob-dash@example.com"));
  admin = app.client(await app.token("root-dash@example.com", { admin: true }));
});
afterAll(() => app?.close());

async function fail(jobId: string, reason: string) {
  await app.app.services.pool.query(
    "UPDATE jobs SET status = 'failed', dlq_reason = $2, error = 'x', completed_at = now() WHERE id = $1",
    [jobId, reason],
  );
}

describe("stats.overview", () => {
  test("counts jobs per state for the caller, everyone's for an admin, with per-minute throughput", async () => {
    const a1 = await alice.jobs.enqueue.mutate(emailItem());
    await alice.jobs.enqueue.mutate(emailItem());
    await alice.jobs.cancel.mutate({ jobId: a1.jobId });
    await bob.jobs.enqueue.mutate(emailItem());
    const mine = await alice.stats.overview.query({});
    expect(mine.counts).toMatchObject({ pending: 1, cancelled: 1, running: 0, succeeded: 0, failed: 0, retrying: 0 });
    const all = await admin.stats.overview.query({ minutes: 5 });
    expect(all.counts.pending).toBeGreaterThanOrEqual(2);
    expect(all.throughput).toHaveLength(5);
    expect(all.throughput.at(-1)).toEqual({
      minute: expect.any(Date),
      started: expect.any(Number),
      succeeded: expect.any(Number),
      failed: expect.any(Number),
      retried: expect.any(Number),
    });
  });
});

describe("dlq.requeueMany and dlq.discardMany", () => {
  test("by ids: acts on the caller's dead-lettered jobs only, skipping others and non-failed ones", async () => {
    const mine = await Promise.all([1, 2, 3].map(() => alice.jobs.enqueue.mutate(emailItem())));
    const theirs = await bob.jobs.enqueue.mutate(emailItem());
    for (const { jobId } of [...mine.slice(0, 2), theirs]) await fail(jobId, "retries_exhausted");
    const result = await alice.dlq.requeueMany.mutate({ jobIds: [...mine.map((m) => m.jobId), theirs.jobId] });
    expect(result.count).toBe(2);
    expect(result.jobIds.sort()).toEqual(
      mine
        .slice(0, 2)
        .map((m) => m.jobId)
        .sort(),
    );
    expect((await bob.jobs.get.query({ jobId: theirs.jobId })).status).toBe("failed");
    const { rows } = await app.app.services.pool.query(
      "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = ANY($1)",
      [result.jobIds],
    );
    expect(rows[0].n).toBe(2);
  });

  test("by filter: everything matching the reason", async () => {
    const jobs = await Promise.all([1, 2, 3].map(() => alice.jobs.enqueue.mutate(emailItem())));
    await fail(jobs[0]?.jobId as string, "timeout");
    await fail(jobs[1]?.jobId as string, "timeout");
    await fail(jobs[2]?.jobId as string, "permanent_error");
    const discarded = await alice.dlq.discardMany.mutate({ filter: { reason: "timeout" } });
    expect(discarded.jobIds.sort()).toEqual([jobs[0]?.jobId, jobs[1]?.jobId].sort());
    const left = await alice.dlq.list.query({});
    expect(left.items.map((i) => i.id)).toContain(jobs[2]?.jobId);
    expect(left.items.map((i) => i.id)).not.toContain(jobs[0]?.jobId);
    const requeued = await alice.dlq.requeueMany.mutate({ filter: {} });
    expect(requeued.jobIds).toContain(jobs[2]?.jobId);
    expect((await alice.dlq.list.query({})).items).toHaveLength(0);
  });

  test("bad selections are BAD_REQUEST", async () => {
    expect((await rejection(alice.dlq.requeueMany.mutate({ jobIds: [] }))).data?.code).toBe("BAD_REQUEST");
    expect((await rejection(alice.dlq.requeueMany.mutate({ jobIds: ["nope"] }))).data?.code).toBe("BAD_REQUEST");
    expect((await rejection(alice.dlq.discardMany.mutate({ filter: { reason: "bored" as never } }))).data?.code).toBe(
      "BAD_REQUEST",
    );
  });
});

describe("jobs.list search", () => {
  test("finds a job by id or by idempotency key, only the caller's", async () => {
    const keyed = await alice.jobs.enqueue.mutate(emailItem({ idempotencyKey: "order-42" }));
    const plain = await alice.jobs.enqueue.mutate(emailItem());
    expect((await alice.jobs.list.query({ search: "order-42" })).items.map((j) => j.id)).toEqual([keyed.jobId]);
    expect((await alice.jobs.list.query({ search: plain.jobId })).items.map((j) => j.id)).toEqual([plain.jobId]);
    expect((await bob.jobs.list.query({ search: plain.jobId })).items).toEqual([]);
  });
});

describe("devMail.list", () => {
  test("is for admins only", async () => {
    expect(await admin.devMail.list.query({})).toEqual(expect.any(Array));
    expect((await rejection(alice.devMail.list.query({}))).data?.code).toBe("FORBIDDEN");
  });
});
