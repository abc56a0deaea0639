// `npm run worker`: a worker process alone runs the jobs a server with
// WORKER=off enqueues, sharing only the database.
import { type ChildProcess, spawn } from "node:child_process";
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { emailItem } from "../support/fixtures.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

let smtp: TestSmtpServer;
let app: TestApp;
let worker: ChildProcess | undefined;
let output = "";

beforeAll(async () => {
  smtp = await startTestSmtpServer();
  app = await startTestApp({ SMTP_URL: smtp.url, WORKER: "off" });
});
afterAll(async () => {
  try {
    if (worker?.pid) process.kill(-worker.pid, "SIGKILL"); // npm and the worker under it
  } catch {
    // already gone
  }
  await app?.close();
  await smtp?.close();
});

test("a server with WORKER=off runs no jobs; a separate worker process runs them", async () => {
  const client = app.client(await app.token("scale@example.com"));
  const { jobId } = await client.jobs.enqueue.mutate(emailItem({}, "scaled@example.com"));
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect((await client.jobs.get.query({ jobId })).status).toBe("pending");

  worker = spawn("npm", ["run", "worker"], {
    env: { ...process.env, DATABASE_URL: app.databaseUrl, SMTP_URL: smtp.url, LOG_LEVEL: "info" },
    detached: true,
  });
  worker.stdout?.on("data", (d) => {
    output += d;
  });
  worker.stderr?.on("data", (d) => {
    output += d;
  });
  const job = await eventually(async () => {
    const current = await client.jobs.get.query({ jobId });
    return current.status === "succeeded" ? current : undefined;
  }, 60_000);
  expect(job.attempt).toBe(1);
  expect(smtp.messages.some((m) => m.envelopeTo.includes("scaled@example.com"))).toBe(true);
  expect(output).toContain("worker started");
});
