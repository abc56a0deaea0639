// The enqueue and email buckets over real HTTP, with small limits: a limited
// call answers 429 with Retry-After, error.data.code and data.retryAfterMs,
// and enqueues nothing; a batch is 429 only when every call in it was
// limited; enqueueMany counts each job and one bigger than the burst is a 400
// naming `jobs`; webhooks.replay and workflows.start count, requeues do not;
// and jobs.enqueue's own route (server/http/enqueue-route.ts) answers a limited call
// as tRPC does, Retry-After included. Each test has its own user: buckets are
// per user.
import http from "node:http";
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { AppRouter } from "../../server/http/routers/_app.js";
import { enqueueJobs } from "../../server/lifecycle/enqueue.js";
import { startTestApp, type TestApp } from "../support/app.js";

// Burst 5 jobs (3 of them emails); one token a minute, so nothing refills during a test.
const LIMITS = { ENQUEUE_RATE_PER_MINUTE: "1", ENQUEUE_BURST: "5", EMAIL_RATE_PER_MINUTE: "1", EMAIL_BURST: "3" };

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off", WEBHOOK_ALLOW_LOOPBACK: "true", ...LIMITS });
});
afterAll(() => app?.close());

let users = 0;
async function user() {
  const email = `limits${++users}@example.com`;
  const token = await app.token(email);
  const { rows } = await app.app.services.pool.query<{ id: string }>("SELECT id FROM users WHERE email = $1", [email]);
  return { token, id: rows[0]?.id as string, client: app.client(token) };
}

const exportJob = { type: "export" as const, payload: { format: "csv" as const } };
const emailJob = (n = 0) => ({
  type: "email" as const,
  payload: { to: `to${n}@example.com`, subject: "Hi", body: "b" },
});

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A POST to /trpc/<path> as a client sends it; chunked leaves jobs.enqueue to tRPC instead of its own route. */
function post(path: string, body: unknown, token: string, chunked = false): Promise<Answer> {
  const text = JSON.stringify(body);
  const headers: Record<string, string> = { "content-type": "application/json", authorization: `Bearer ${token}` };
  if (!chunked) headers["content-length"] = String(Buffer.byteLength(text));
  return new Promise((resolve, reject) => {
    const request = http.request(`${app.url}/trpc/${path}`, { method: "POST", headers }, (response) => {
      let data = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        data += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: data }));
    });
    request.on("error", reject);
    if (chunked) request.write(text);
    request.end(chunked ? undefined : text);
  });
}

async function jobCount(ownerId: string): Promise<number> {
  const { rows } = await app.app.services.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM jobs WHERE owner_id = $1",
    [ownerId],
  );
  return rows[0]?.n ?? -1;
}

async function queuedCount(): Promise<number> {
  const { rows } = await app.app.services.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM graphile_worker._private_jobs",
  );
  return rows[0]?.n ?? -1;
}

/** The error a typed client call failed with (it must fail). */
async function failure(call: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof TRPCClientError)) throw new Error(`expected a tRPC error, got ${String(error)}`);
  return error as TRPCClientError<AppRouter>;
}

function expectLimited(answer: Answer, errorJson: { data?: { code?: string; retryAfterMs?: number } }) {
  expect(answer.status).toBe(429);
  const seconds = Number(answer.headers["retry-after"]);
  expect(errorJson.data?.code).toBe("TOO_MANY_REQUESTS");
  const wait = errorJson.data?.retryAfterMs ?? 0;
  // One token a minute, the bucket empty: about a minute, and the header is the same wait in whole seconds.
  expect(wait).toBeGreaterThan(30_000);
  expect(wait).toBeLessThanOrEqual(60_000);
  expect(seconds).toBe(Math.ceil(wait / 1000));
}

describe("jobs.enqueue and jobs.enqueueMany", () => {
  test("a limited enqueue answers 429 with Retry-After, data.code and data.retryAfterMs, and enqueues nothing", async () => {
    const u = await user();
    await u.client.jobs.enqueueMany.mutate({ jobs: [exportJob, exportJob, exportJob, exportJob, exportJob] });
    expect(await jobCount(u.id)).toBe(5);
    const queued = await queuedCount();

    // Sent chunked: tRPC's own answer (the route's is compared with it below).
    const answer = await post("jobs.enqueue", { json: exportJob }, u.token, true);
    const error = JSON.parse(answer.body).error.json;
    expectLimited(answer, error);
    expect(error.message).toMatch(/ENQUEUE_RATE_PER_MINUTE is 1 a minute/);
    expect(await jobCount(u.id)).toBe(5);
    expect(await queuedCount()).toBe(queued);

    // The typed client sees the same: code and wait.
    const typed = await failure(u.client.jobs.enqueue.mutate(exportJob));
    expect(typed.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(typed.data?.retryAfterMs).toBeGreaterThan(30_000);
  });

  test("enqueueMany counts each job, and a refused one enqueues none of its jobs", async () => {
    const u = await user();
    await u.client.jobs.enqueueMany.mutate({ jobs: [exportJob, exportJob, exportJob] });
    // 2 tokens left: a batch of 3 is refused whole.
    const answer = await post("jobs.enqueueMany", { json: { jobs: [exportJob, exportJob, exportJob] } }, u.token);
    expectLimited(answer, JSON.parse(answer.body).error.json);
    expect(await jobCount(u.id)).toBe(3);
    await u.client.jobs.enqueueMany.mutate({ jobs: [exportJob, exportJob] });
    expect(await jobCount(u.id)).toBe(5);
  });

  test("an enqueueMany bigger than the burst is a 400 naming jobs and the limit", async () => {
    const u = await user();
    const answer = await post("jobs.enqueueMany", { json: { jobs: Array(6).fill(exportJob) } }, u.token);
    expect(answer.status).toBe(400);
    expect(answer.headers["retry-after"]).toBeUndefined();
    const { data } = JSON.parse(answer.body).error.json;
    expect(data.code).toBe("BAD_REQUEST");
    expect(data.zodError.issues).toEqual([
      { code: "custom", path: ["jobs"], message: "at most 5 jobs fit in one call (ENQUEUE_BURST); this one has 6" },
    ]);
    const emails = await post("jobs.enqueueMany", { json: { jobs: [0, 1, 2, 3].map(emailJob) } }, u.token);
    expect(emails.status).toBe(400);
    expect(JSON.parse(emails.body).error.json.data.zodError.issues[0].message).toMatch(/EMAIL_BURST/);
    // Neither took anything: the whole burst is still there.
    await u.client.jobs.enqueueMany.mutate({ jobs: Array(5).fill(exportJob) });
  });

  test("email jobs also draw on the email bucket; other jobs go on while it is empty", async () => {
    const u = await user();
    await u.client.jobs.enqueueMany.mutate({ jobs: [0, 1, 2].map(emailJob) });
    const error = await failure(u.client.jobs.enqueue.mutate(emailJob(3)));
    expect(error.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(error.message).toMatch(/EMAIL_RATE_PER_MINUTE/);
    await u.client.jobs.enqueue.mutate(exportJob);
    expect(await jobCount(u.id)).toBe(4);
  });
});

describe("batched requests", () => {
  test("a batch whose calls are all limited answers 429 with Retry-After", async () => {
    const u = await user();
    await u.client.jobs.enqueueMany.mutate({ jobs: Array(5).fill(exportJob) });
    const answer = await post(
      "jobs.enqueue,jobs.enqueue?batch=1",
      { 0: { json: exportJob }, 1: { json: exportJob } },
      u.token,
    );
    const results = JSON.parse(answer.body) as { error: { json: { data: { code: string; retryAfterMs: number } } } }[];
    expect(results).toHaveLength(2);
    // The header is the longer of the two waits: the second was refused a moment later, so it may be shorter.
    const longest = results.reduce((a, r) => (r.error.json.data.retryAfterMs > a.error.json.data.retryAfterMs ? r : a));
    expectLimited(answer, longest.error.json);
    for (const result of results) expect(result.error.json.data.code).toBe("TOO_MANY_REQUESTS");
  });

  test("a batch with a limited call and another that succeeds is not 429; the limited call still says so", async () => {
    const u = await user();
    const { jobIds } = await u.client.jobs.enqueueMany.mutate({ jobs: Array(5).fill(exportJob) });
    // A mutation that takes no tokens beside one that needs one.
    const answer = await post(
      "jobs.enqueue,jobs.cancel?batch=1",
      { 0: { json: exportJob }, 1: { json: { jobId: jobIds[0] } } },
      u.token,
    );
    expect(answer.status).not.toBe(429);
    expect(answer.headers["retry-after"]).toBeUndefined();
    const [limited, cancelled] = JSON.parse(answer.body);
    expect(limited.error.json.data.code).toBe("TOO_MANY_REQUESTS");
    expect(limited.error.json.data.retryAfterMs).toBeGreaterThan(30_000);
    expect(cancelled.result.data.json.status).toBe("cancelled");
  });
});

describe("what counts besides jobs.enqueue", () => {
  test("webhooks.replay counts; jobs.retry and dlq.requeue do not", async () => {
    const u = await user();
    const endpoint = await u.client.webhooks.createEndpoint.mutate({ url: "http://127.0.0.1:9/hook" });
    // Written directly: jobs made outside a user's call take no tokens.
    const [webhookJobId, failedA, failedB] = await enqueueJobs(
      app.app.services.pool,
      u.id,
      [
        { type: "webhook", payload: { endpointId: endpoint.id, event: "order.created", data: 1 } },
        exportJob,
        exportJob,
      ],
      { idempotencyTtlHours: 1 },
    );
    await app.app.services.pool.query(
      "UPDATE jobs SET status='failed', dlq_reason='retries_exhausted', error='x', completed_at=now() WHERE id = ANY($1)",
      [[webhookJobId, failedA, failedB]],
    );
    await u.client.webhooks.replay.mutate({ jobId: webhookJobId as string }); // 4 tokens left
    await u.client.jobs.enqueueMany.mutate({ jobs: Array(4).fill(exportJob) }); // none left
    const replay = await failure(u.client.webhooks.replay.mutate({ jobId: webhookJobId as string }));
    expect(replay.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(replay.data?.retryAfterMs).toBeGreaterThan(30_000);
    // Requeues run on an empty bucket.
    expect((await u.client.jobs.retry.mutate({ jobId: failedA as string })).status).toBe("pending");
    await u.client.dlq.requeue.mutate({ jobId: failedB as string });
    expect(await jobCount(u.id)).toBe(3 + 1 + 4);
  });

  test("workflows.start counts the jobs it enqueues at once, emails in both buckets", async () => {
    const u = await user();
    const notify = (recipients: string[]) => ({
      name: "notify_all" as const,
      input: { recipients, subject: "News", body: "b", reportTo: "boss@example.com" },
    });
    // Three emails start at once (the report comes later): all three email tokens.
    await u.client.workflows.start.mutate(notify(["a@example.com", "b@example.com", "c@example.com"]));
    const again = await failure(u.client.workflows.start.mutate(notify(["d@example.com"])));
    expect(again.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(again.message).toMatch(/EMAIL_RATE_PER_MINUTE/);
    const { rows } = await app.app.services.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM workflows WHERE owner_id = $1",
      [u.id],
    );
    expect(rows[0]?.n).toBe(1);
    // And three enqueue tokens: two left.
    await u.client.jobs.enqueueMany.mutate({ jobs: [exportJob, exportJob] });
    expect((await failure(u.client.jobs.enqueue.mutate(exportJob))).data?.code).toBe("TOO_MANY_REQUESTS");
  });

  test("a workflow that would start more emails than the burst is a 400 naming input", async () => {
    const u = await user();
    const error = await failure(
      u.client.workflows.start.mutate({
        name: "notify_all",
        input: {
          recipients: [1, 2, 3, 4].map((n) => `r${n}@example.com`),
          subject: "S",
          body: "b",
          reportTo: "x@example.com",
        },
      }),
    );
    expect(error.data?.code).toBe("BAD_REQUEST");
    expect(error.data?.zodError?.issues[0]).toMatchObject({
      path: ["input"],
      message: expect.stringMatching(/EMAIL_BURST/),
    });
  });
});

describe("jobs.enqueue's own route", () => {
  // Job ids differ; in development an error carries a stack naming its caller; the waits differ by the moments between.
  const comparable = (body: string) =>
    body
      .replace(/"stack":"(?:[^"\\]|\\.)*"/g, '"stack":"…"')
      .replace(/"retryAfterMs":\d+(\.\d+)?/g, '"retryAfterMs":0');

  test("a limited call gets what tRPC answers: 429, Retry-After and the same JSON", async () => {
    const u = await user();
    await u.client.jobs.enqueueMany.mutate({ jobs: Array(5).fill(exportJob) });
    const ours = await post("jobs.enqueue", { json: exportJob }, u.token, false);
    const trpcs = await post("jobs.enqueue", { json: exportJob }, u.token, true);
    // Who answered: the route sends a length, tRPC a chunked body.
    expect(ours.headers["content-length"]).toBeDefined();
    expect(trpcs.headers["transfer-encoding"]).toBe("chunked");
    expect(ours.status).toBe(trpcs.status);
    expect(ours.headers["content-type"]).toBe(trpcs.headers["content-type"]);
    expect(ours.headers.vary).toBe(trpcs.headers.vary);
    expect(comparable(ours.body)).toBe(comparable(trpcs.body));
    expectLimited(ours, JSON.parse(ours.body).error.json);
    expectLimited(trpcs, JSON.parse(trpcs.body).error.json);
    expect(await jobCount(u.id)).toBe(5);
  });
});
