// Fault: Postgres restarts in the middle of a run (the test's own embedded
// instance, never the shared server). Calls made while it is down fail fast
// with SERVICE_UNAVAILABLE; the app reconnects by itself; nothing committed is
// lost: every job ends succeeded.
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../server/db/embedded.js";
import { createLogger } from "../../server/logger.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { rejection } from "../support/fixtures.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

const JOBS = Number(process.env.FAULT_JOBS ?? 200);
const logger = createLogger("silent");

let dir: string;
let postgres: EmbeddedDatabase;
let smtp: TestSmtpServer;
let app: TestApp;

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-pgrestart-"));
  postgres = await startEmbeddedPostgres(dir, logger, "faults");
  smtp = await startTestSmtpServer();
  app = await startTestApp({ DATABASE_URL: postgres.url, SMTP_URL: smtp.url, WORKER_CONCURRENCY: "8" });
}, 120_000);
afterAll(async () => {
  await app?.close();
  await postgres?.stop();
  await smtp?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

test(`restart Postgres during ${JOBS} jobs: fast errors while down, then recovery with nothing lost`, async () => {
  const token = await app.token("restart@example.com");
  const client = app.client(token);
  const release = smtp.holdData(); // keep jobs in flight across the restart
  const { jobIds } = await client.jobs.enqueueMany.mutate({
    jobs: Array.from({ length: JOBS }, (_, i) => ({
      type: "email" as const,
      payload: { to: `pg${i}@example.com`, subject: `Restart ${i}`, body: "b" },
    })),
  });
  await eventually(async () => (await client.jobs.get.query({ jobId: jobIds[0] as string })).status === "running");

  const port = Number(new URL(postgres.url).port);
  await postgres.stop();
  const started = Date.now();
  const error = await rejection(
    client.jobs.enqueue.mutate({ type: "email", payload: { to: "x@example.com", subject: "s", body: "b" } }),
  );
  expect(error.data?.code).toBe("SERVICE_UNAVAILABLE");
  expect(Date.now() - started).toBeLessThan(15_000); // an answer, not a hang
  expect((await fetch(`${app.url}/healthz`)).status).toBe(503);

  release();
  postgres = await startEmbeddedPostgres(dir, logger, "faults", { port });
  const recoveredAt = Date.now();
  await eventually(async () => (await fetch(`${app.url}/healthz`)).status === 200, 30_000);
  await eventually(async () => {
    const { rows } = await app.app.services.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status <> 'succeeded'",
      [jobIds],
    );
    return rows[0]?.n === 0;
  }, 90_000);
  const seconds = (Date.now() - recoveredAt) / 1000;
  const after = await client.jobs.enqueue.mutate({
    type: "email",
    payload: { to: "after@example.com", subject: "s", body: "b" },
  });
  await eventually(async () => (await client.jobs.get.query({ jobId: after.jobId })).status === "succeeded", 30_000);
  const subjects = new Set(smtp.messages.map((m) => m.mail.subject));
  const missing = jobIds.filter((_, i) => !subjects.has(`Restart ${i}`));
  expect(missing).toEqual([]);
  // biome-ignore lint/suspicious/noConsole: the fault script reports its figures
  console.log(`postgres-restart: ${JOBS} jobs, lost 0, all succeeded ${seconds.toFixed(1)} s after Postgres was back`);
}, 240_000);
