// Bad input gets a clear 4xx naming the field (data.zodError.issues[].path),
// never a 500, and writes nothing: no job, no event, no queued graphile job.
import { randomUUID } from "node:crypto";
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { AppRouter } from "../../server/http/routers/_app.js";
import type { EnqueueItem } from "../../shared/jobs.js";
import { startTestApp, type TestApp } from "../support/app.js";

type Client = ReturnType<TestApp["client"]>;
type Issue = { path: PropertyKey[]; message: string };

const valid = { to: "someone@example.com", subject: "Hello", body: "Body" };

/** Builds an email item from a payload that may be invalid on purpose. */
function email(payload: Record<string, unknown>, options: Record<string, unknown> = {}): EnqueueItem {
  return { type: "email", payload: { ...valid, ...payload }, ...options } as EnqueueItem;
}

async function rowCounts(app: TestApp) {
  const { rows } = await app.app.services.pool.query<{ jobs: number; events: number; queued: number }>(
    `SELECT (SELECT count(*) FROM jobs)::int AS jobs,
            (SELECT count(*) FROM job_events)::int AS events,
            (SELECT count(*) FROM graphile_worker._private_jobs)::int AS queued`,
  );
  const [counts] = rows;
  if (!counts) throw new Error("no counts");
  return counts;
}

/**
 * Runs `call`, expects a tRPC error with `code`, and checks that no row was
 * written to jobs, job_events or graphile's queue meanwhile.
 */
async function rejected(app: TestApp, call: () => Promise<unknown>, code = "BAD_REQUEST") {
  const before = await rowCounts(app);
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error, `expected ${code}, but the call succeeded`).toBeInstanceOf(TRPCClientError);
  const clientError = error as TRPCClientError<AppRouter>;
  expect({ code: clientError.data?.code, message: clientError.message }).toMatchObject({ code });
  expect(await rowCounts(app), "rows written by a rejected request").toEqual(before);
  return clientError;
}

function issuesOf(error: TRPCClientError<AppRouter>): Issue[] {
  return (error.data?.zodError?.issues ?? []) as Issue[];
}

function paths(error: TRPCClientError<AppRouter>): PropertyKey[][] {
  return issuesOf(error).map((i) => i.path);
}

/** Raw POST to a tRPC mutation, as a non-TypeScript client would send it. */
function rawPost(app: TestApp, token: string, procedure: string, body: string) {
  return fetch(`${app.url}/trpc/${procedure}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body,
  });
}

function enqueueBody(payload: Record<string, unknown>): string {
  return JSON.stringify({ json: { type: "email", payload: { ...valid, ...payload } } });
}

/** The checks that must hold in every environment. */
function validationSuite(env: Record<string, string>) {
  let app: TestApp;
  let client: Client;
  let token: string;

  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off", ...env });
    token = await app.token("alice@example.com");
    client = app.client(token);
  });
  afterAll(async () => {
    await app?.close();
  });

  test("an invalid email address is BAD_REQUEST naming payload.to", async () => {
    const error = await rejected(app, () => client.jobs.enqueue.mutate(email({ to: "not-an-email" })));
    expect(paths(error)).toContainEqual(["payload", "to"]);
    expect(error.message).toContain("payload.to");
  });

  test.each([
    ["CR in to", { to: "a@example.com\rBcc: x@example.com" }, "to"],
    ["LF in to", { to: "a@example.com\nBcc: x@example.com" }, "to"],
    ["CR in subject", { subject: "Hi\rBcc: x@example.com" }, "subject"],
    ["LF in subject", { subject: "Hi\nBcc: x@example.com" }, "subject"],
    ["CRLF in subject", { subject: "Hi\r\nBcc: x@example.com" }, "subject"],
  ])("%s is BAD_REQUEST naming that field", async (_label, payload, field) => {
    const error = await rejected(app, () => client.jobs.enqueue.mutate(email(payload)));
    expect(paths(error)).toContainEqual(["payload", field]);
  });

  test("an unknown job type is BAD_REQUEST naming type", async () => {
    const item = { type: "sms", payload: valid } as unknown as EnqueueItem;
    const error = await rejected(app, () => client.jobs.enqueue.mutate(item));
    expect(paths(error)).toContainEqual(["type"]);
  });

  test("a malformed jobId is BAD_REQUEST; a well-formed unknown one is NOT_FOUND", async () => {
    const malformed = await rejected(app, () => client.jobs.get.query({ jobId: "nope" }));
    expect(paths(malformed)).toContainEqual(["jobId"]);
    await rejected(app, () => client.jobs.get.query({ jobId: randomUUID() }), "NOT_FOUND");
    await rejected(app, () => client.jobs.cancel.mutate({ jobId: "nope" }));
  });

  test("REST GET /api/jobs/not-a-uuid is 400", async () => {
    const response = await fetch(`${app.url}/api/jobs/not-a-uuid`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "bad_request", message: expect.stringContaining("UUID") });
  });

  test("a subject over 998 characters is BAD_REQUEST; 998 is accepted", async () => {
    const error = await rejected(app, () => client.jobs.enqueue.mutate(email({ subject: "s".repeat(999) })));
    expect(paths(error)).toContainEqual(["payload", "subject"]);
    const { jobId } = await client.jobs.enqueue.mutate(email({ subject: "s".repeat(998) }));
    expect((await client.jobs.get.query({ jobId })).status).toBe("pending");
  });

  test("a body over 1,000,000 characters is BAD_REQUEST; exactly 1,000,000 is accepted", async () => {
    const error = await rejected(app, () => client.jobs.enqueue.mutate(email({ body: "b".repeat(1_000_001) })));
    expect(paths(error)).toContainEqual(["payload", "body"]);

    const before = await rowCounts(app);
    const { jobId } = await client.jobs.enqueue.mutate(email({ body: "b".repeat(1_000_000) }));
    const job = await client.jobs.get.query({ jobId });
    expect(job.type === "email" && job.payload.body.length).toBe(1_000_000);
    expect(await rowCounts(app)).toEqual({
      jobs: before.jobs + 1,
      events: before.events + 1,
      queued: before.queued + 1,
    });
  });

  test("enqueueMany with an invalid item at index 2 is BAD_REQUEST naming jobs.2 and writes none of the batch", async () => {
    const jobs = [email({}), email({ to: "b@example.com" }), email({ to: "not-an-email" }), email({})];
    const error = await rejected(app, () => client.jobs.enqueueMany.mutate({ jobs }));
    expect(paths(error).length).toBeGreaterThan(0);
    expect(paths(error).every((p) => p[0] === "jobs" && p[1] === 2)).toBe(true);
    expect(paths(error)).toContainEqual(["jobs", 2, "payload", "to"]);
  });

  test("enqueueMany with no jobs is BAD_REQUEST", async () => {
    const error = await rejected(app, () => client.jobs.enqueueMany.mutate({ jobs: [] }));
    expect(paths(error)).toContainEqual(["jobs"]);
  });

  test.each([
    ["an empty idempotencyKey", ""],
    ["a 256-character idempotencyKey", "k".repeat(256)],
    ["an idempotencyKey containing a newline", "key\nwith-newline"],
  ])("%s is BAD_REQUEST naming idempotencyKey", async (_label, key) => {
    const error = await rejected(app, () => client.jobs.enqueue.mutate(email({}, { idempotencyKey: key })));
    expect(paths(error)).toContainEqual(["idempotencyKey"]);
  });

  test("a 255-character idempotencyKey is accepted", async () => {
    const { jobId } = await client.jobs.enqueue.mutate(email({}, { idempotencyKey: "k".repeat(255) }));
    expect((await client.jobs.get.query({ jobId })).idempotencyKey).toBe("k".repeat(255));
  });

  test("priority outside smallint (40000) is BAD_REQUEST naming priority", async () => {
    const error = await rejected(app, () => client.jobs.enqueue.mutate(email({}, { priority: 40_000 })));
    expect(paths(error)).toContainEqual(["priority"]);
  });

  test("jobs.list with limit 201 is BAD_REQUEST naming limit", async () => {
    const error = await rejected(app, () => client.jobs.list.query({ limit: 201 }));
    expect(paths(error)).toContainEqual(["limit"]);
  });

  test.each([
    ["a NUL character", "before\u0000after"],
    ["a lone UTF-16 surrogate", "before\ud800after"],
  ])("%s in the body is BAD_REQUEST naming payload.body, not a 500", async (_label, body) => {
    const error = await rejected(app, () => client.jobs.enqueue.mutate(email({ body })));
    expect(paths(error)).toContainEqual(["payload", "body"]);
  });

  test("a NUL character in the jobs.list type filter is BAD_REQUEST naming type, not a 500", async () => {
    const error = await rejected(app, () => client.jobs.list.query({ type: "email\u0000" }));
    expect(paths(error)).toContainEqual(["type"]);
  });

  test("a NUL character in jobs.list's search is BAD_REQUEST naming search, not a 500", async () => {
    const error = await rejected(app, () => client.jobs.list.query({ search: "key\u0000" }));
    expect(paths(error)).toContainEqual(["search"]);
  });

  // Issue 13: the id part was checked for 36 characters of [0-9a-f-] only, and
  // Postgres refused what was no UUID with a 500.
  test.each([
    ["36 dashes", `2024-01-01T00:00:00.000Z_${"-".repeat(36)}`],
    ["36 hex digits without dashes", `2024-01-01T00:00:00.000Z_${"a".repeat(36)}`],
    ["February 30th", `2024-02-30T00:00:00.000Z_${randomUUID()}`],
    ["year 0", `0000-01-01T00:00:00.000Z_${randomUUID()}`],
  ])(
    "a cursor with %s is BAD_REQUEST naming cursor in jobs.list, dlq.list and workflows.list",
    async (_label, cursor) => {
      for (const call of [
        () => client.jobs.list.query({ cursor }),
        () => client.dlq.list.query({ cursor }),
        () => client.workflows.list.query({ cursor }),
      ]) {
        const error = await rejected(app, call);
        expect(paths(error)).toContainEqual(["cursor"]);
      }
    },
  );

  test("a well-formed cursor (a UUID in either case) is accepted", async () => {
    const cursor = `2024-01-01T00:00:00.000Z_${randomUUID().toUpperCase()}`;
    await expect(client.jobs.list.query({ cursor })).resolves.toMatchObject({ items: [] });
    await expect(client.dlq.list.query({ cursor })).resolves.toMatchObject({ items: [] });
    await expect(client.workflows.list.query({ cursor })).resolves.toMatchObject({ items: [] });
  });

  test("a bad value in a dead-letter filter is BAD_REQUEST naming the filter's field", async () => {
    const reason = "nope" as "permanent_error";
    const error = await rejected(app, () => client.dlq.requeueMany.mutate({ filter: { reason } }));
    expect(paths(error)).toContainEqual(["filter", "reason"]);
    const type = await rejected(app, () => client.dlq.discardMany.mutate({ filter: { type: "a b" } }));
    expect(paths(type)).toContainEqual(["filter", "type"]);
  });

  test("a webhook endpoint whose host does not resolve is BAD_REQUEST naming url", async () => {
    // .invalid never resolves (RFC 6761), on any network.
    const error = await rejected(app, () =>
      client.webhooks.createEndpoint.mutate({ url: "http://nonexistent.invalid/" }),
    );
    expect(paths(error)).toContainEqual(["url"]);
  });

  test("a NUL character in an endpoint's description is BAD_REQUEST naming description", async () => {
    const error = await rejected(app, () =>
      client.webhooks.createEndpoint.mutate({ url: "https://93.184.216.34/hook", description: "a\u0000b" }),
    );
    expect(paths(error)).toContainEqual(["description"]);
  });

  test.each([
    ["/api/jobs/%E0%A4%A", "id"],
    ["/api/jobs/%zz", "id"],
    ["/api/exports/%E0%A4%A/download", "jobId"],
  ])("REST GET %s (bad percent-encoding) is 400 naming %s", async (path, param) => {
    const response = await fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: "bad_request", message: expect.stringContaining(param) });
  });

  test.each([
    ["year 10000", "+010000-01-01T00:00:00.000Z"],
    ["year 0", "0000-01-01T00:00:00.000Z"],
  ])("a runAt in %s (not storable in Postgres) is BAD_REQUEST naming runAt, not a 500", async (_label, iso) => {
    const runAt = new Date(iso);
    expect(Number.isNaN(runAt.getTime())).toBe(false);
    const error = await rejected(app, () => client.jobs.enqueue.mutate(email({}, { runAt })));
    expect(paths(error)).toContainEqual(["runAt"]);
  });
}

describe("validation (NODE_ENV test)", () => {
  validationSuite({});
});

describe("validation (NODE_ENV production)", () => {
  // SMTP_URL is required in production; nothing is sent here (the worker is off).
  validationSuite({ NODE_ENV: "production", SMTP_URL: "smtp://127.0.0.1:2525" });
});

describe("request bodies", () => {
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off" });
    token = await app.token("alice@example.com");
  });
  afterAll(async () => {
    await app?.close();
  });

  test("a body over the default 5 MB limit is HTTP 413 and writes nothing", async () => {
    const before = await rowCounts(app);
    const response = await rawPost(app, token, "jobs.enqueue", enqueueBody({ body: "b".repeat(6 * 1024 * 1024) }));
    expect(response.status).toBe(413);
    expect(await rowCounts(app)).toEqual(before);
  });

  test("malformed JSON is HTTP 400 and writes nothing", async () => {
    const before = await rowCounts(app);
    const response = await rawPost(app, token, "jobs.enqueue", '{"json": {"type": "email", "payload": ');
    expect(response.status).toBe(400);
    expect(await rowCounts(app)).toEqual(before);
  });

  test("a raw POST with an invalid field is HTTP 400 with the issues, not 500", async () => {
    const response = await rawPost(app, token, "jobs.enqueue", enqueueBody({ to: "not-an-email" }));
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { json: { data: { zodError: { issues: Issue[] } } } } };
    expect(body.error.json.data.zodError.issues.map((i) => i.path)).toContainEqual(["payload", "to"]);
  });

  describe("with MAX_BODY_BYTES=2048", () => {
    let small: TestApp;
    let smallToken: string;

    beforeAll(async () => {
      small = await startTestApp({ WORKER: "off", MAX_BODY_BYTES: "2048" });
      smallToken = await small.token("alice@example.com");
    });
    afterAll(async () => {
      await small?.close();
    });

    test("a 3 KB body is 413 while a small one is accepted", async () => {
      const before = await rowCounts(small);
      const big = enqueueBody({ body: "b".repeat(3 * 1024) });
      expect(Buffer.byteLength(big)).toBeGreaterThan(3 * 1024);
      const tooLarge = await rawPost(small, smallToken, "jobs.enqueue", big);
      expect(tooLarge.status).toBe(413);
      expect(await rowCounts(small)).toEqual(before);

      const ok = await rawPost(small, smallToken, "jobs.enqueue", enqueueBody({}));
      expect(ok.status).toBe(200);
      const body = (await ok.json()) as { result: { data: { json: { jobId: string } } } };
      const job = await small.client(smallToken).jobs.get.query({ jobId: body.result.data.json.jobId });
      expect(job.status).toBe("pending");
      expect((await rowCounts(small)).jobs).toBe(before.jobs + 1);
    });
  });
});
