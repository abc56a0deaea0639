// Users and ownership over real HTTP: who may call what, and how a job that is
// not the caller's looks exactly like one that does not exist.
import { randomUUID } from "node:crypto";
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { AppRouter } from "../../server/http/routers/_app.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { sleep } from "../support/fixtures.js";

let app: TestApp;
let tokenA: string;
let tokenB: string;
let tokenAdmin: string;

beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
  tokenA = await app.token("alice@example.com");
  tokenB = await app.token("bob@example.com");
  tokenAdmin = await app.token("root@example.com", { admin: true });
});
afterAll(async () => {
  await app?.close();
});

type Client = ReturnType<TestApp["client"]>;

/** The rejection of `call`, asserted to be a tRPC error with `code`. */
async function expectTrpcError(call: Promise<unknown>, code: string) {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}, but the call succeeded`).toBeInstanceOf(TRPCClientError);
  expect((error as TRPCClientError<AppRouter>).data?.code).toBe(code);
  return error as TRPCClientError<AppRouter>;
}

async function enqueue(client: Client, to = "someone@example.com"): Promise<string> {
  const { jobId } = await client.jobs.enqueue.mutate({ type: "email", payload: { to, subject: "Hi", body: "Body" } });
  return jobId;
}

async function markFailed(jobId: string): Promise<void> {
  await app.app.services.pool.query(
    "UPDATE jobs SET status='failed', dlq_reason='retries_exhausted', error='x', completed_at=now() WHERE id=$1",
    [jobId],
  );
}

async function statusOf(jobId: string): Promise<string | undefined> {
  const { rows } = await app.app.services.pool.query<{ status: string }>("SELECT status FROM jobs WHERE id=$1", [
    jobId,
  ]);
  return rows[0]?.status;
}

function restGet(path: string, headers: Record<string, string> = {}) {
  return fetch(`${app.url}${path}`, { headers });
}

/** GET /trpc/jobs.list the way a browser would: superjson input in the query string. */
function listViaHttp(headers: Record<string, string>) {
  const input = encodeURIComponent(JSON.stringify({ json: {} }));
  return fetch(`${app.url}/trpc/jobs.list?input=${input}`, { headers });
}

/** Subscribes to jobs.events and resolves with the error the stream ends with. */
function subscriptionError(client: Client, input: { jobId?: string }, timeoutMs = 10_000) {
  return new Promise<unknown>((resolve) => {
    const timer = setTimeout(() => {
      subscription.unsubscribe();
      resolve(new Error(`no error within ${timeoutMs} ms`));
    }, timeoutMs);
    const subscription = client.jobs.events.subscribe(input, {
      onData: () => {},
      onError: (error) => {
        clearTimeout(timer);
        subscription.unsubscribe();
        resolve(error);
      },
    });
  });
}

describe("authentication", () => {
  const validInput = { type: "email" as const, payload: { to: "x@example.com", subject: "Hi", body: "Body" } };

  test.each([
    ["no token", undefined],
    ["a bad token", "tj_not-a-real-token"],
  ])("with %s, jobs.enqueue, jobs.list and jobs.get are UNAUTHORIZED", async (_label, token) => {
    const client = app.client(token);
    const before = await app.app.services.pool.query("SELECT count(*)::int AS n FROM jobs");
    await expectTrpcError(client.jobs.enqueue.mutate(validInput), "UNAUTHORIZED");
    await expectTrpcError(client.jobs.list.query({}), "UNAUTHORIZED");
    await expectTrpcError(client.jobs.get.query({ jobId: randomUUID() }), "UNAUTHORIZED");
    const after = await app.app.services.pool.query("SELECT count(*)::int AS n FROM jobs");
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });

  test("REST GET /api/jobs/:id is 401 without a token or with a bad one", async () => {
    const jobId = await enqueue(app.client(tokenA));
    const none = await restGet(`/api/jobs/${jobId}`);
    expect(none.status).toBe(401);
    expect(await none.json()).toMatchObject({ error: "unauthorized" });
    const bad = await restGet(`/api/jobs/${jobId}`, { authorization: "Bearer tj_nope" });
    expect(bad.status).toBe(401);
    const ok = await restGet(`/api/jobs/${jobId}`, { authorization: `Bearer ${tokenA}` });
    expect(ok.status).toBe(200);
  });

  test("the token works as the tj_session cookie for tRPC and REST", async () => {
    const jobId = await enqueue(app.client(tokenA));
    const cookie = `theme=dark; tj_session=${tokenA}; other=1`;

    const list = await listViaHttp({ cookie });
    expect(list.status).toBe(200);
    const body = (await list.json()) as { result: { data: { json: { items: { id: string }[] } } } };
    expect(body.result.data.json.items.map((j) => j.id)).toContain(jobId);

    const rest = await restGet(`/api/jobs/${jobId}`, { cookie });
    expect(rest.status).toBe(200);
    expect(await rest.json()).toMatchObject({ job_id: jobId });
  });

  test("a bad tj_session cookie is UNAUTHORIZED (tRPC 401, REST 401)", async () => {
    const jobId = await enqueue(app.client(tokenA));
    const cookie = "tj_session=tj_forged";
    const list = await listViaHttp({ cookie });
    expect(list.status).toBe(401);
    const rest = await restGet(`/api/jobs/${jobId}`, { cookie });
    expect(rest.status).toBe(401);
  });

  test("a malformed (not percent-decodable) tj_session cookie is 401, not a server error", async () => {
    const jobId = await enqueue(app.client(tokenA));
    const cookie = "tj_session=%E0%A4%A";
    const list = await listViaHttp({ cookie });
    const rest = await restGet(`/api/jobs/${jobId}`, { cookie });
    expect({ trpc: list.status, rest: rest.status }).toEqual({ trpc: 401, rest: 401 });
  });
});

describe("ownership", () => {
  let alice: Client;
  let bob: Client;

  beforeAll(() => {
    alice = app.client(tokenA);
    bob = app.client(tokenB);
  });

  test("user B gets NOT_FOUND for user A's job on get, cancel and retry, and A's job is untouched", async () => {
    const jobId = await enqueue(alice);
    await expectTrpcError(bob.jobs.get.query({ jobId }), "NOT_FOUND");
    await expectTrpcError(bob.jobs.cancel.mutate({ jobId }), "NOT_FOUND");
    expect(await statusOf(jobId)).toBe("pending");

    const failedId = await enqueue(alice);
    await markFailed(failedId);
    await expectTrpcError(bob.jobs.retry.mutate({ jobId: failedId }), "NOT_FOUND");
    expect(await statusOf(failedId)).toBe("failed");
    // The owner can do what B could not: the NOT_FOUND above is about ownership.
    expect((await alice.jobs.get.query({ jobId })).id).toBe(jobId);
  });

  test("user B gets NOT_FOUND for user A's dead-lettered job on dlq.requeue and dlq.discard", async () => {
    const jobId = await enqueue(alice);
    await markFailed(jobId);
    await expectTrpcError(bob.dlq.requeue.mutate({ jobId }), "NOT_FOUND");
    await expectTrpcError(bob.dlq.discard.mutate({ jobId }), "NOT_FOUND");
    const { rows } = await app.app.services.pool.query("SELECT status, discarded_at FROM jobs WHERE id=$1", [jobId]);
    expect(rows[0]).toEqual({ status: "failed", discarded_at: null });
    expect((await alice.dlq.list.query({})).items.map((j) => j.id)).toContain(jobId);
  });

  test("user B's jobs.events subscription to A's job ends with NOT_FOUND", async () => {
    const jobId = await enqueue(alice);
    const error = await subscriptionError(bob, { jobId });
    expect(error).toBeInstanceOf(TRPCClientError);
    expect((error as TRPCClientError<AppRouter>).data?.code).toBe("NOT_FOUND");
  });

  test("user B's unscoped jobs.events stream carries B's events but never A's", async () => {
    const seen: string[] = [];
    const bobJobs = new Set<string>();
    let sawBob!: () => void;
    const bobEvent = new Promise<boolean>((resolve) => {
      sawBob = () => resolve(true);
    });
    let failure: unknown;
    const subscription = bob.jobs.events.subscribe(
      {},
      {
        onData: ({ data }) => {
          seen.push(data.jobId);
          if (bobJobs.has(data.jobId)) sawBob();
        },
        onError: (error) => {
          failure = error;
        },
      },
    );
    try {
      // The stream goes live shortly after it connects: enqueue A-then-B pairs until one of B's arrives.
      await eventually(async () => {
        if (failure) throw failure;
        await enqueue(alice);
        bobJobs.add(await enqueue(bob));
        return Promise.race([bobEvent, sleep(250).then(() => false)]);
      });
    } finally {
      subscription.unsubscribe();
    }
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.filter((id) => !bobJobs.has(id))).toEqual([]);
  });

  test("REST GET /api/jobs/:id is 404 for another user's job", async () => {
    const jobId = await enqueue(alice);
    const response = await restGet(`/api/jobs/${jobId}`, { authorization: `Bearer ${tokenB}` });
    expect(response.status).toBe(404);
    expect(await response.json()).toMatchObject({ error: "not_found" });
  });

  test("jobs.list and dlq.list for B include only B's jobs", async () => {
    const aPending = await enqueue(alice);
    const aFailed = await enqueue(alice);
    await markFailed(aFailed);
    const bPending = await enqueue(bob);
    const bFailed = await enqueue(bob);
    await markFailed(bFailed);

    const list = await bob.jobs.list.query({ limit: 200 });
    const ids = list.items.map((j) => j.id);
    expect(ids).toEqual(expect.arrayContaining([bPending, bFailed]));
    expect(ids).not.toContain(aPending);
    expect(ids).not.toContain(aFailed);
    const { rows } = await app.app.services.pool.query<{ id: string }>(
      "SELECT j.id FROM jobs j JOIN users u ON u.id = j.owner_id WHERE u.email = 'bob@example.com'",
    );
    expect(new Set(ids)).toEqual(new Set(rows.map((r) => r.id)));

    const dlq = await bob.dlq.list.query({ limit: 200 });
    expect(dlq.items.map((j) => j.id)).toContain(bFailed);
    expect(dlq.items.map((j) => j.id)).not.toContain(aFailed);
    expect(dlq.items.every((j) => j.ownerId === list.items[0]?.ownerId)).toBe(true);
  });

  test("NOT_FOUND is decided before the state check: B cancelling A's finished job is NOT_FOUND, not CONFLICT", async () => {
    const jobId = await enqueue(alice);
    await markFailed(jobId);
    // For the owner this is a state conflict...
    await expectTrpcError(alice.jobs.cancel.mutate({ jobId }), "CONFLICT");
    // ...for anyone else the job does not exist.
    await expectTrpcError(bob.jobs.cancel.mutate({ jobId }), "NOT_FOUND");

    const pendingId = await enqueue(alice);
    await expectTrpcError(alice.jobs.retry.mutate({ jobId: pendingId }), "CONFLICT");
    await expectTrpcError(bob.jobs.retry.mutate({ jobId: pendingId }), "NOT_FOUND");
    await expectTrpcError(alice.dlq.discard.mutate({ jobId: pendingId }), "CONFLICT");
    await expectTrpcError(bob.dlq.discard.mutate({ jobId: pendingId }), "NOT_FOUND");
  });
});

describe("admin", () => {
  test("an admin sees every user's jobs in jobs.list", async () => {
    const aJob = await enqueue(app.client(tokenA));
    const bJob = await enqueue(app.client(tokenB));
    const admin = app.client(tokenAdmin);
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Awaited<ReturnType<Client["jobs"]["list"]["query"]>> = await admin.jobs.list.query({
        limit: 200,
        cursor,
      });
      ids.push(...page.items.map((j) => j.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(ids).toEqual(expect.arrayContaining([aJob, bJob]));
    const { rows } = await app.app.services.pool.query("SELECT count(*)::int AS n FROM jobs");
    expect(ids).toHaveLength(rows[0].n);
  });

  test("an admin can get and cancel another user's job", async () => {
    const jobId = await enqueue(app.client(tokenA));
    const admin = app.client(tokenAdmin);
    const job = await admin.jobs.get.query({ jobId });
    expect(job.id).toBe(jobId);
    expect(job.events.map((e) => e.status)).toEqual(["pending"]);
    const cancelled = await admin.jobs.cancel.mutate({ jobId });
    expect(cancelled.status).toBe("cancelled");
    expect(await statusOf(jobId)).toBe("cancelled");
    // The owner sees the admin's cancel.
    expect((await app.client(tokenA).jobs.get.query({ jobId })).status).toBe("cancelled");
  });

  test("an admin can read another user's job over REST", async () => {
    const jobId = await enqueue(app.client(tokenB));
    const response = await restGet(`/api/jobs/${jobId}`, { authorization: `Bearer ${tokenAdmin}` });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ job_id: jobId, status: "pending" });
  });
});
