// jobs.events over real SSE: live delivery fed by LISTEN/NOTIFY, scoping, and
// resumption with lastEventId that loses and repeats nothing, including events
// whose transactions commit out of id order.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { withTransaction } from "../../server/db/pool.js";
import { applyTransition } from "../../server/lifecycle/transitions.js";
import type { JobEvent } from "../../shared/events.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { emailItem, gate, sleep } from "../support/fixtures.js";
import { record } from "../support/stream.js";

let app: TestApp;
let token: string;
let userId: string;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
  token = await app.token("stream@example.com");
  userId = (await app.app.services.db.user.findUniqueOrThrow({ where: { email: "stream@example.com" } })).id;
});
afterAll(() => app?.close());

/** The caller's whole committed event log, in cursor order, straight from the table. */
async function logOf(ownerId: string): Promise<JobEvent[]> {
  const { rows } = await app.app.services.pool.query<{ id: string }>(
    "SELECT txid::text || '-' || id::text AS id FROM job_events WHERE owner_id = $1 ORDER BY job_events.txid, job_events.id",
    [ownerId],
  );
  return rows.map((r) => ({ id: r.id }) as JobEvent);
}

const ids = (events: JobEvent[]) => events.map((e) => e.id);

describe("jobs.events", () => {
  test("streams the caller's events live with the documented shape, and not other users' events", async () => {
    const client = app.client(token);
    const stranger = app.client(await app.token("stranger@example.com"));
    const stream = record(client);
    await stream.started;
    await stranger.jobs.enqueue.mutate(emailItem());
    const { jobId } = await client.jobs.enqueue.mutate(emailItem());
    const [event] = await stream.waitFor((events) => events.some((e) => e.jobId === jobId));
    stream.stop();
    expect(event).toEqual({
      id: expect.stringMatching(/^\d+-\d+$/),
      jobId,
      jobType: "email",
      kind: "transition",
      status: "pending",
      attempt: 0,
      at: expect.any(Date),
    });
    expect(stream.events.every((e) => e.jobId === jobId)).toBe(true);
  });

  test("an admin's stream covers every user's jobs", async () => {
    const admin = app.client(await app.token("events-admin@example.com", { admin: true }));
    const someone = app.client(await app.token("someone-else@example.com"));
    const stream = record(admin);
    await stream.started;
    const mine = await app.client(token).jobs.enqueue.mutate(emailItem());
    const theirs = await someone.jobs.enqueue.mutate(emailItem());
    await stream.waitFor(
      (events) => events.some((e) => e.jobId === mine.jobId) && events.some((e) => e.jobId === theirs.jobId),
    );
    stream.stop();
  });

  test("with jobId, streams only that job's events; another user's job is NOT_FOUND", async () => {
    const client = app.client(token);
    // Both enqueue events delivered before the scoped stream opens: the stream's
    // horizon is cluster-wide, so under load an enqueue could otherwise still be
    // in flight when it starts and arrive live.
    const all = record(client);
    await all.started;
    const a = await client.jobs.enqueue.mutate(emailItem());
    const b = await client.jobs.enqueue.mutate(emailItem());
    await all.waitFor((events) => events.some((e) => e.jobId === b.jobId));
    all.stop();
    const stream = record(client, { jobId: a.jobId });
    await stream.started;
    await client.jobs.cancel.mutate({ jobId: b.jobId });
    await client.jobs.cancel.mutate({ jobId: a.jobId });
    await stream.waitFor((events) => events.some((e) => e.status === "cancelled"));
    stream.stop();
    expect(stream.events.map((e) => [e.jobId, e.status])).toEqual([[a.jobId, "cancelled"]]);

    const stranger = app.client(await app.token("stranger2@example.com"));
    const denied = record(stranger, { jobId: a.jobId });
    expect(await denied.waitForError()).toMatchObject({ data: { code: "NOT_FOUND" } });
    denied.stop();
  });

  test("after a dropped connection, lastEventId replays exactly what came after it, then continues live", async () => {
    const client = app.client(token);
    const first = record(client);
    await first.started;
    const j1 = await client.jobs.enqueue.mutate(emailItem());
    await first.waitFor((events) => events.some((e) => e.jobId === j1.jobId));
    first.stop();
    const lastSeen = first.events.at(-1)?.id as string;

    // While disconnected: more events.
    const j2 = await client.jobs.enqueue.mutate(emailItem());
    const j3 = await client.jobs.enqueue.mutate(emailItem());
    await client.jobs.cancel.mutate({ jobId: j2.jobId });

    const second = record(client, { lastEventId: lastSeen });
    await second.waitFor((events) => events.some((e) => e.jobId === j2.jobId && e.status === "cancelled"));
    // ...and it is live afterwards.
    await client.jobs.cancel.mutate({ jobId: j3.jobId });
    await second.waitFor((events) => events.some((e) => e.jobId === j3.jobId && e.status === "cancelled"));
    second.stop();

    const log = await logOf(userId);
    const from = log.findIndex((e) => e.id === lastSeen);
    expect(ids(second.events)).toEqual(ids(log.slice(from + 1)));
  });

  test("events committed out of id order are neither lost nor repeated across a reconnect", async () => {
    const client = app.client(token);
    const pool = app.app.services.pool;
    const early = await client.jobs.enqueue.mutate(emailItem());
    const slow = await client.jobs.enqueue.mutate(emailItem());

    const first = record(client);
    await first.started;
    const marker = await client.jobs.enqueue.mutate(emailItem());
    await first.waitFor((events) => events.some((e) => e.jobId === marker.jobId));

    // Transaction A writes an event (lower id, lower txid) and stays open...
    const commitA = gate();
    const aWritten = gate();
    const transactionA = withTransaction(pool, async (tx) => {
      await applyTransition(tx, { jobId: slow.jobId, to: "cancelled", from: ["pending"], event: {} });
      aWritten.open();
      await commitA.promise;
    });
    await aWritten.promise;
    // ...while B writes later rows and commits first.
    await client.jobs.cancel.mutate({ jobId: early.jobId });
    const late = await client.jobs.enqueue.mutate(emailItem());
    await sleep(300);
    // The stream drops here, having delivered whatever it safely could.
    first.stop();
    const lastSeen = first.events.at(-1)?.id as string;
    commitA.open();
    await transactionA;

    const second = record(client, { lastEventId: lastSeen });
    await second.waitFor(
      (events) =>
        [...first.events, ...events].some((e) => e.jobId === slow.jobId && e.status === "cancelled") &&
        [...first.events, ...events].some((e) => e.jobId === late.jobId),
    );
    await sleep(200);
    second.stop();

    const delivered = [...first.events, ...second.events];
    expect(new Set(ids(delivered)).size).toBe(delivered.length); // nothing repeated
    const log = await logOf(userId);
    const from = log.findIndex((e) => e.id === first.events[0]?.id);
    expect(ids(delivered)).toEqual(ids(log.slice(from))); // nothing lost, one order
    // The slow transaction's event sorts before the ones that committed ahead of it.
    const slowAt = delivered.findIndex((e) => e.jobId === slow.jobId && e.status === "cancelled");
    const earlyAt = delivered.findIndex((e) => e.jobId === early.jobId && e.status === "cancelled");
    expect(slowAt).toBeLessThan(earlyAt);
  });

  test("events written through another connection (a worker in another process) arrive via LISTEN/NOTIFY", async () => {
    const client = app.client(token);
    const { jobId } = await client.jobs.enqueue.mutate(emailItem());
    const stream = record(client, { jobId });
    await stream.started;
    // A separate app instance on the same database: its own pool and no shared memory with ours.
    const other = await startTestApp({ DATABASE_URL: app.databaseUrl, WORKER: "off" });
    try {
      // A write through the other process's lifecycle: it rings the doorbell there, after its commit.
      await other.client(token).jobs.cancel.mutate({ jobId });
      await stream.waitFor((events) => events.some((e) => e.status === "cancelled"));
    } finally {
      stream.stop();
      await other.close();
    }
  });

  test("a malformed lastEventId is BAD_REQUEST", async () => {
    const stream = record(app.client(token), { lastEventId: "not-an-id" });
    expect(await stream.waitForError()).toMatchObject({ data: { code: "BAD_REQUEST" } });
    stream.stop();
  });

  test("a lastEventId older than the retained history ends the stream with PRECONDITION_FAILED", async () => {
    const client = app.client(token);
    const { jobId } = await client.jobs.enqueue.mutate(emailItem());
    const job = await client.jobs.get.query({ jobId });
    const oldId = job.events[0]?.id as string;
    // History pruned past that event.
    await app.app.services.pool.query("DELETE FROM job_events WHERE job_id = $1", [jobId]);
    const stream = record(client, { lastEventId: oldId });
    expect(await stream.waitForError()).toMatchObject({ data: { code: "PRECONDITION_FAILED" } });
    stream.stop();
  });

  test("the stream accepts the session cookie as well as the Authorization header", async () => {
    const response = await fetch(`${app.url}/trpc/jobs.events?input=${encodeURIComponent('{"json":{}}')}`, {
      headers: { cookie: `tj_session=${token}`, accept: "text/event-stream" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/event-stream");
    const reader = response.body?.getReader();
    const { value } = (await reader?.read()) ?? {};
    expect(new TextDecoder().decode(value)).toContain("connected");
    await reader?.cancel();
    const anonymous = await fetch(`${app.url}/trpc/jobs.events?input=${encodeURIComponent('{"json":{}}')}`, {
      headers: { accept: "text/event-stream" },
    });
    const text = await anonymous.text();
    expect(anonymous.status === 401 || text.includes("UNAUTHORIZED")).toBe(true);
  });
});
