// The dead-letter queue for all three tasks, each failing for real: an email
// the SMTP server refuses, a webhook the receiver rejects, an export that
// cannot write its file. Each lands in the queue with its reason, last error
// and attempts; requeue starts a fresh series keeping the history; discard
// takes it out of the queue and keeps the audit trail.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { JobView } from "../../shared/job-view.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { startReceiver, type TestReceiver } from "../support/receiver.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

let smtp: TestSmtpServer;
let receiver: TestReceiver;
let app: TestApp;
let client: ReturnType<TestApp["client"]>;
let blocker: string;

beforeAll(async () => {
  smtp = await startTestSmtpServer();
  smtp.refuse.add("gone@example.com");
  receiver = await startReceiver();
  // A file where the export folder should be: every export attempt fails to write.
  blocker = path.join(await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-dlq-")), "not-a-folder");
  await fs.writeFile(blocker, "");
  const fast = { backoff: { baseMs: 10, maxMs: 20 } };
  app = await startTestApp(
    { SMTP_URL: smtp.url, WEBHOOK_ALLOW_LOOPBACK: "true", EXPORT_DIR: path.join(blocker, "exports") },
    { tuning: { email: fast, webhook: fast, export: fast } },
  );
  client = app.client(await app.token("dlq-all@example.com"));
});
afterAll(async () => {
  await app?.close();
  await receiver?.close();
  await smtp?.close();
});

async function failed(jobId: string, minAttempts = 1): Promise<JobView & { events: { status: string }[] }> {
  return eventually(async () => {
    const job = await client.jobs.get.query({ jobId });
    return job.status === "failed" && job.attempt >= minAttempts ? job : undefined;
  }, 30_000);
}

async function makeFailures() {
  const email = await client.jobs.enqueue.mutate({
    type: "email",
    payload: { to: "gone@example.com", subject: "s", body: "b" },
  });
  receiver.script(...Array.from({ length: 20 }, () => ({ status: 404 })));
  const endpoint = await client.webhooks.createEndpoint.mutate({ url: receiver.url("/missing") });
  const webhook = await client.jobs.enqueue.mutate({
    type: "webhook",
    payload: { endpointId: endpoint.id, event: "x.y", data: { n: 1 } },
  });
  const exported = await client.jobs.enqueue.mutate({ type: "export", payload: { format: "csv" } });
  return { email: email.jobId, webhook: webhook.jobId, export: exported.jobId };
}

describe("each task type in the dead-letter queue", () => {
  test("fails with its reason, last error and attempts; requeue keeps history; discard keeps the audit trail", async () => {
    const ids = await makeFailures();
    const expected = {
      email: { reason: "permanent_error", attempt: 1, error: /550/ },
      webhook: { reason: "permanent_error", attempt: 1, error: /404/ },
      export: { reason: "retries_exhausted", attempt: 3, error: /ENOTDIR|EEXIST|not a directory/i },
    } as const;
    for (const type of ["email", "webhook", "export"] as const) {
      const job = await failed(ids[type], expected[type].attempt);
      expect(job).toMatchObject({ reason: expected[type].reason, attempt: expected[type].attempt });
      expect(job.error).toMatch(expected[type].error);
      const listed = (await client.dlq.list.query({ limit: 200 })).items.find((i) => i.id === ids[type]);
      expect(listed).toMatchObject({ reason: expected[type].reason, lastError: job.error });
    }

    const before: Record<string, number> = {};
    for (const type of ["email", "webhook", "export"] as const) {
      before[type] = (await client.jobs.get.query({ jobId: ids[type] })).events.length;
    }
    const requeued = await client.dlq.requeueMany.mutate({ jobIds: Object.values(ids) });
    expect(requeued.count).toBe(3);
    for (const type of ["email", "webhook", "export"] as const) {
      // A fresh series ends failed again; the first series stays in the timeline.
      const again = await eventually(async () => {
        const job = await client.jobs.get.query({ jobId: ids[type] });
        return job.events.filter((e) => e.status === "failed").length === 2 ? job : undefined;
      }, 30_000);
      expect(again.attempt).toBe(expected[type].attempt);
      expect(again.events.length).toBeGreaterThan(before[type] ?? 0);
      expect(again.events.filter((e) => e.status === "pending" && e.attempt === 0)).toHaveLength(2);
    }
    expect((await client.webhooks.attempts.query({ jobId: ids.webhook })).length).toBe(2);

    const discarded = await client.dlq.discardMany.mutate({ jobIds: Object.values(ids) });
    expect(discarded.count).toBe(3);
    const remaining = await client.dlq.list.query({ limit: 200 });
    expect(remaining.items.filter((i) => Object.values(ids).includes(i.id))).toEqual([]);
    for (const jobId of Object.values(ids)) {
      const job = await client.jobs.get.query({ jobId });
      expect(job).toMatchObject({ status: "failed", inDeadLetterQueue: false });
      expect(job.events.length).toBeGreaterThan(2);
    }
  }, 90_000);
});
