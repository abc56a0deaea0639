// The done-when scenario: a token, an email enqueued through @trpc/client over
// HTTP, GET /api/jobs/:id polled until it succeeds, the message at a real SMTP server.
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

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

test("an enqueued email is sent to the SMTP server and the job succeeds", async () => {
  const token = await app.token("alice@example.com");
  const client = app.client(token);
  const started = await client.jobs.enqueue.mutate({
    type: "email",
    payload: { to: "bob@example.com", subject: "Quarterly report", body: "It is ready.", html: "<p>It is ready.</p>" },
  });
  expect(started).toEqual({ jobId: expect.any(String), status: "pending", pollUrl: `/api/jobs/${started.jobId}` });

  const final = await eventually(async () => {
    const response = await fetch(`${app.url}${started.pollUrl}`, { headers: { authorization: `Bearer ${token}` } });
    const body = (await response.json()) as { status: string };
    return body.status === "succeeded" ? body : undefined;
  });
  expect(final).toMatchObject({ job_id: started.jobId, status: "succeeded", is_terminal: true, error: null });

  const [received] = await smtp.waitFor(1);
  expect(received?.envelopeTo).toEqual(["bob@example.com"]);
  expect(received?.mail.subject).toBe("Quarterly report");
  expect(received?.mail.text?.trim()).toBe("It is ready.");
  expect(received?.mail.messageId).toBe(`<${started.jobId}@typed-jobs.local>`);

  const job = await client.jobs.get.query({ jobId: started.jobId });
  expect(job.type).toBe("email");
  if (job.type === "email") expect(job.result?.messageId).toBe(`<${started.jobId}@typed-jobs.local>`);
  expect(job.events.map((e) => `${e.kind}:${e.status}`)).toEqual([
    "transition:pending",
    "transition:running",
    "progress:running",
    "progress:running",
    "transition:succeeded",
  ]);
});
