// The plain-HTTP surface: GET /api/jobs/:id (an enqueue's pollUrl) has a fixed
// snake_case shape in every state, and GET /healthz reports the database.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

const KEYS = ["completed_at", "created_at", "error", "is_terminal", "job_id", "result", "started_at", "status"];
const ISO_8601 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

interface RestJob {
  job_id: string;
  status: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  result: unknown;
  error: string | null;
  is_terminal: boolean;
}

async function getJob(app: TestApp, token: string, path: string): Promise<RestJob> {
  const response = await fetch(`${app.url}${path}`, { headers: { authorization: `Bearer ${token}` } });
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  return (await response.json()) as RestJob;
}

/** Every key present (null when empty), nothing else, with the documented types. */
function expectShape(body: RestJob) {
  expect(Object.keys(body).sort()).toEqual(KEYS);
  expect(typeof body.job_id).toBe("string");
  expect(typeof body.status).toBe("string");
  expect(body.created_at).toMatch(ISO_8601);
  for (const key of ["started_at", "completed_at"] as const) {
    if (body[key] !== null) expect(body[key]).toMatch(ISO_8601);
  }
  expect(body.error === null || typeof body.error === "string").toBe(true);
  expect(typeof body.is_terminal).toBe("boolean");
}

const email = { type: "email" as const, payload: { to: "bob@example.com", subject: "Report", body: "Ready." } };

describe("GET /api/jobs/:id with the worker off", () => {
  let app: TestApp;
  let token: string;

  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off" });
    token = await app.token("alice@example.com");
  });
  afterAll(async () => {
    await app?.close();
  });

  test("the pollUrl returned by enqueue is /api/jobs/<id> and serves that job", async () => {
    const started = await app.client(token).jobs.enqueue.mutate(email);
    expect(started.pollUrl).toBe(`/api/jobs/${started.jobId}`);
    expect((await getJob(app, token, started.pollUrl)).job_id).toBe(started.jobId);
  });

  test("a pending job has every key, nulls for what has not happened, and is not terminal", async () => {
    const client = app.client(token);
    const { jobId, pollUrl } = await client.jobs.enqueue.mutate(email);
    const body = await getJob(app, token, pollUrl);
    expectShape(body);
    const job = await client.jobs.get.query({ jobId });
    expect(body).toEqual({
      job_id: jobId,
      status: "pending",
      created_at: job.createdAt.toISOString(),
      started_at: null,
      completed_at: null,
      result: null,
      error: null,
      is_terminal: false,
    });
  });

  test("a failed job carries its error as a string and is terminal", async () => {
    const client = app.client(token);
    const { jobId, pollUrl } = await client.jobs.enqueue.mutate(email);
    await app.app.services.pool.query(
      `UPDATE jobs SET status='failed', dlq_reason='retries_exhausted', error='SMTP said no',
              started_at=now(), completed_at=now() WHERE id=$1`,
      [jobId],
    );
    const body = await getJob(app, token, pollUrl);
    expectShape(body);
    const job = await client.jobs.get.query({ jobId });
    expect(body).toEqual({
      job_id: jobId,
      status: "failed",
      created_at: job.createdAt.toISOString(),
      started_at: job.startedAt?.toISOString(),
      completed_at: job.completedAt?.toISOString(),
      result: null,
      error: "SMTP said no",
      is_terminal: true,
    });
  });

  test("a cancelled job is terminal with a completed_at and no error", async () => {
    const client = app.client(token);
    const { jobId, pollUrl } = await client.jobs.enqueue.mutate(email);
    await client.jobs.cancel.mutate({ jobId });
    const body = await getJob(app, token, pollUrl);
    expectShape(body);
    expect(body).toMatchObject({ status: "cancelled", started_at: null, error: null, result: null, is_terminal: true });
    expect(body.completed_at).toMatch(ISO_8601);
  });

  test("an unknown job is 404 and a malformed id 400, both as JSON", async () => {
    const headers = { authorization: `Bearer ${token}` };
    const missing = await fetch(`${app.url}/api/jobs/00000000-0000-4000-8000-000000000000`, { headers });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: "not_found" });
    const malformed = await fetch(`${app.url}/api/jobs/not-a-uuid`, { headers });
    expect(malformed.status).toBe(400);
    expect(await malformed.json()).toMatchObject({ error: "bad_request" });
  });

  test("GET /healthz is 200 JSON with ok: true, without a token", async () => {
    const response = await fetch(`${app.url}/healthz`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    expect(await response.json()).toMatchObject({ ok: true });
  });
});

describe("GET /api/jobs/:id with a worker and an SMTP server", () => {
  let smtp: TestSmtpServer;
  let app: TestApp;

  beforeAll(async () => {
    smtp = await startTestSmtpServer();
    app = await startTestApp({ SMTP_URL: smtp.url });
  });
  afterAll(async () => {
    await app?.close();
    await smtp?.close();
  });

  test("a succeeded job has ISO start and completion times, its result, no error, and is terminal", async () => {
    const token = await app.token("alice@example.com");
    const client = app.client(token);
    const { jobId, pollUrl } = await client.jobs.enqueue.mutate(email);
    const body = await eventually(async () => {
      const current = await getJob(app, token, pollUrl);
      return current.status === "succeeded" ? current : undefined;
    });
    expectShape(body);
    const job = await client.jobs.get.query({ jobId });
    expect(body).toEqual({
      job_id: jobId,
      status: "succeeded",
      created_at: job.createdAt.toISOString(),
      started_at: job.startedAt?.toISOString(),
      completed_at: job.completedAt?.toISOString(),
      result: {
        messageId: `<${jobId}@typed-jobs.local>`,
        accepted: ["bob@example.com"],
        response: expect.any(String),
      },
      error: null,
      is_terminal: true,
    });
    expect(body.started_at).toMatch(ISO_8601);
    expect(body.completed_at).toMatch(ISO_8601);
    expect(Date.parse(body.started_at ?? "")).toBeLessThanOrEqual(Date.parse(body.completed_at ?? ""));
    expect(Date.parse(body.created_at)).toBeLessThanOrEqual(Date.parse(body.started_at ?? ""));
  });
});
