// Graceful worker shutdown: running attempts get the grace period to finish;
// after it, their abort signals fire, they are recorded as interrupted and
// retried, and no graphile job is left locked.
import { afterAll, beforeAll, expect, test } from "vitest";
import { startWorker } from "../../server/worker/runner.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { emailItem, gate, sleep } from "../support/fixtures.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

let smtp: TestSmtpServer;
let app: TestApp;
let client: ReturnType<TestApp["client"]>;
beforeAll(async () => {
  smtp = await startTestSmtpServer();
  app = await startTestApp({ SMTP_URL: smtp.url, WORKER: "off" });
  client = app.client(await app.token("shutdown@example.com"));
});
afterAll(async () => {
  await app?.close();
  await smtp?.close();
});

function worker() {
  const { db, pool, config, logger, network } = app.app.services;
  return startWorker({ db, pool, config, network }, logger, {
    concurrency: 2,
    connectionString: app.databaseUrl,
    tuning: { email: { backoff: { baseMs: 50, maxMs: 50 } } },
  });
}

async function lockedGraphileJobs() {
  const { rows } = await app.app.services.pool.query(
    "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE locked_at IS NOT NULL",
  );
  return rows[0].n as number;
}

test("an attempt that finishes within the grace period completes normally", async () => {
  const release = smtp.holdData();
  const { jobId } = await client.jobs.enqueue.mutate(emailItem({}, "graceful@example.com"));
  const running = await worker();
  await smtp.dataStarted();
  const stopped = running.stop(10_000);
  await sleep(100);
  release();
  await stopped;
  expect((await client.jobs.get.query({ jobId })).status).toBe("succeeded");
  expect(await lockedGraphileJobs()).toBe(0);
});

test("after the grace period the attempt is aborted, recorded as interrupted, retried later, and nothing stays locked", async () => {
  const release = smtp.holdData();
  const { jobId } = await client.jobs.enqueue.mutate(
    emailItem({ payload: { to: "interrupted@example.com", subject: "Interrupted", body: "b" } }),
  );
  const first = await worker();
  await smtp.dataStarted();
  expect((await client.jobs.get.query({ jobId })).status).toBe("running");
  await first.stop(200);
  const interrupted = await client.jobs.get.query({ jobId });
  expect(interrupted).toMatchObject({ status: "retrying", attempt: 1 });
  expect(interrupted.error).toMatch(/shutting down/);
  expect(await lockedGraphileJobs()).toBe(0);
  release();

  // The next worker picks the job up again.
  const second = await worker();
  try {
    const done = await eventually(async () => {
      const job = await client.jobs.get.query({ jobId });
      return job.status === "succeeded" ? job : undefined;
    });
    expect(done.attempt).toBe(2);
  } finally {
    await second.stop(1000);
  }
  // At-least-once: the abandoned SMTP exchange may also have completed; every
  // copy carries the job's Message-ID, so a receiver can drop duplicates.
  const copies = smtp.messages.filter((m) => m.mail.subject === "Interrupted");
  expect(copies.length).toBeGreaterThanOrEqual(1);
  expect(new Set(copies.map((m) => m.mail.messageId))).toEqual(new Set([`<${jobId}@typed-jobs.local>`]));
});

test("a plain job's success is recorded after its graphile slot is freed, and shutdown waits for it", async () => {
  const { jobId } = await client.jobs.enqueue.mutate(emailItem({}, "settling@example.com"));
  const handlerStarted = gate();
  const finishHandler = gate();
  const { db, pool, config, logger, network } = app.app.services;
  const running = await startWorker({ db, pool, config, network }, logger, {
    concurrency: 2,
    connectionString: app.databaseUrl,
    tuning: {
      email: {
        run: async () => {
          handlerStarted.open();
          await finishHandler.promise;
          return { messageId: "<held@example.com>", accepted: ["settling@example.com"], response: "250 OK" };
        },
      },
    },
  });
  // Hold the job's row once it is running, so its success write waits.
  const holder = await pool.connect();
  let stopped = false;
  try {
    await handlerStarted.promise;
    await holder.query("BEGIN");
    await holder.query("SELECT 1 FROM jobs WHERE id = $1 FOR UPDATE", [jobId]);
    finishHandler.open();
    // graphile-worker has its slot back (its job is done) while ours still says running.
    await eventually(async () => {
      const { rows } = await pool.query("SELECT count(*)::int AS n FROM graphile_worker.jobs WHERE key = $1", [jobId]);
      return rows[0].n === 0;
    });
    expect((await client.jobs.get.query({ jobId })).status).toBe("running");
    // Shutdown waits for the success to land before the process deregisters.
    const stopping = running.stop(10_000).then(() => {
      stopped = true;
    });
    await sleep(300);
    expect(stopped).toBe(false);
    await holder.query("COMMIT");
    await stopping;
    expect((await client.jobs.get.query({ jobId })).status).toBe("succeeded");
  } finally {
    await holder.query("ROLLBACK").catch(() => {});
    holder.release();
    if (!stopped) await running.stop(1000);
  }
});
