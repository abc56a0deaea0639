// The email task run by the real graphile-worker runner against a real SMTP
// server: permanent and transient SMTP failures, retries into the dead-letter
// queue, and no second message when a job runs again.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePort } from "../../server/db/embedded.js";
import { emailTask } from "../../server/tasks/email.js";
import type { TaskDefinition } from "../../server/tasks/types.js";
import { runAttempt } from "../../server/worker/run-attempt.js";
import type { JobType } from "../../shared/jobs.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { attemptDeps, emailItem } from "../support/fixtures.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

const fastRetries = { email: { backoff: { baseMs: 20, maxMs: 50 } } };

let smtp: TestSmtpServer;
let app: TestApp;
let client: ReturnType<TestApp["client"]>;
beforeAll(async () => {
  smtp = await startTestSmtpServer();
  app = await startTestApp({ SMTP_URL: smtp.url }, { tuning: fastRetries });
  client = app.client(await app.token("mailer@example.com"));
});
afterAll(async () => {
  await app?.close();
  await smtp?.close();
});

const settled = (jobId: string) =>
  eventually(async () => {
    const job = await client.jobs.get.query({ jobId });
    return ["succeeded", "failed"].includes(job.status) ? job : undefined;
  }, 20_000);

describe("email delivery", () => {
  test("a recipient the SMTP server refuses (550) fails permanently after one attempt", async () => {
    smtp.refuse.add("nobody@example.com");
    const { jobId } = await client.jobs.enqueue.mutate(emailItem({}, "nobody@example.com"));
    const job = await settled(jobId);
    expect(job).toMatchObject({ status: "failed", attempt: 1, reason: "permanent_error", inDeadLetterQueue: true });
    expect(job.error).toMatch(/550/);
    expect(smtp.messages.some((m) => m.envelopeTo.includes("nobody@example.com"))).toBe(false);
    const dlq = await client.dlq.list.query({});
    expect(dlq.items.find((i) => i.id === jobId)).toMatchObject({ reason: "permanent_error" });
  });

  test("a temporary refusal (451) is retried with backoff, then the message is sent once", async () => {
    smtp.deferNext(2);
    const { jobId } = await client.jobs.enqueue.mutate(
      emailItem({ payload: { to: "later@example.com", subject: "Deferred", body: "b" } }),
    );
    const job = await settled(jobId);
    expect(job).toMatchObject({ status: "succeeded", attempt: 3 });
    expect(job.events.filter((e) => e.status === "retrying")).toHaveLength(2);
    expect(job.events.find((e) => e.status === "retrying")?.nextRunAt).toBeInstanceOf(Date);
    expect(smtp.messages.filter((m) => m.mail.subject === "Deferred")).toHaveLength(1);
  });

  test("running the same job again after its send does not send a second message", async () => {
    const { jobId } = await client.jobs.enqueue.mutate(
      emailItem({ payload: { to: "once@example.com", subject: "Exactly once", body: "b" } }),
    );
    await settled(jobId);
    // As if the outcome had been lost after the send (a crash between send and record):
    const { pool, db } = app.app.services;
    await pool.query("UPDATE jobs SET status = 'retrying', completed_at = NULL, result = NULL WHERE id = $1", [jobId]);
    await runAttempt(attemptDeps(db, pool, { SMTP_URL: smtp.url }), emailTask as TaskDefinition<JobType>, jobId);
    const job = await client.jobs.get.query({ jobId });
    expect(job).toMatchObject({ status: "succeeded", attempt: 2 });
    if (job.type === "email") expect(job.result?.messageId).toBe(`<${jobId}@typed-jobs.local>`);
    expect(smtp.messages.filter((m) => m.mail.subject === "Exactly once")).toHaveLength(1);
  });
});

describe("an unreachable SMTP server", () => {
  let down: TestApp;
  beforeAll(async () => {
    const closedPort = await freePort();
    down = await startTestApp({ SMTP_URL: `smtp://127.0.0.1:${closedPort}` }, { tuning: fastRetries });
  });
  afterAll(() => down?.close());

  test("is transient: retried up to maxAttempts, then failed into the dead-letter queue (retries_exhausted)", async () => {
    const downClient = down.client(await down.token("unlucky@example.com"));
    const { jobId } = await downClient.jobs.enqueue.mutate(emailItem());
    const job = await eventually(async () => {
      const current = await downClient.jobs.get.query({ jobId });
      return current.status === "failed" ? current : undefined;
    }, 30_000);
    expect(job).toMatchObject({ attempt: 5, maxAttempts: 5, reason: "retries_exhausted", inDeadLetterQueue: true });
    expect(job.error).toMatch(/ECONNREFUSED|ESOCKET|ECONNECTION/);
    expect(job.events.filter((e) => e.kind === "transition" && e.status === "running")).toHaveLength(5);
    expect(job.events.at(-1)).toMatchObject({ status: "failed", reason: "retries_exhausted" });
  });
});
