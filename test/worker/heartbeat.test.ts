// Heartbeats: a worker process registers with its graphile-worker ids; a
// process silent past the threshold is swept by a live one, its running
// attempt recorded as crashed and retried at once, its locks released.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { emailItem } from "../support/fixtures.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

let smtp: TestSmtpServer;
let server: TestApp;
beforeAll(async () => {
  smtp = await startTestSmtpServer();
  server = await startTestApp({ WORKER: "off", SMTP_URL: smtp.url });
});
afterAll(async () => {
  await server?.close();
  await smtp?.close();
});

/** A worker process, silent for an hour, whose attempt of `jobId` is running; returns its id. */
async function silentProcessRunning(jobId: string, graphileWorkerId: string): Promise<string> {
  const pool = server.app.services.pool;
  const dead = randomUUID();
  await pool.query(
    `INSERT INTO worker_processes (id, hostname, pid, graphile_worker_ids, last_heartbeat_at)
     VALUES ($1, 'gone', 1, ARRAY[$2], now() - interval '1 hour')`,
    [dead, graphileWorkerId],
  );
  await pool.query(
    "UPDATE jobs SET status = 'running', attempt = 1, fence = fence + 1, worker_process_id = $2 WHERE id = $1",
    [jobId, dead],
  );
  return dead;
}

test("a dead worker's running attempt is recorded as crashed and retried within seconds", async () => {
  const client = server.client(await server.token("hb@example.com"));
  const { jobId } = await client.jobs.enqueue.mutate(emailItem({}, "recovered@example.com"));
  const pool = server.app.services.pool;
  // A worker process that started the attempt, then went silent (SIGKILL, power loss).
  const dead = await silentProcessRunning(jobId, "dead-worker-1");
  await pool.query(
    "UPDATE graphile_worker._private_jobs SET locked_at = now(), locked_by = 'dead-worker-1', attempts = 1 WHERE key = $1",
    [jobId],
  );

  // A live worker with short settings sweeps it.
  const worker = await startTestApp(
    {
      DATABASE_URL: server.databaseUrl,
      SMTP_URL: smtp.url,
      HEARTBEAT_INTERVAL_MS: "200",
      HEARTBEAT_TIMEOUT_MS: "1000",
    },
    {},
  );
  try {
    const { rows: live } = await pool.query<{ graphile_worker_ids: string[] }>(
      "SELECT graphile_worker_ids FROM worker_processes WHERE id = $1",
      [worker.app.worker?.heartbeat.processId],
    );
    expect(live[0]?.graphile_worker_ids.length).toBeGreaterThan(0);
    const job = await eventually(async () => {
      const current = await client.jobs.get.query({ jobId });
      return current.status === "succeeded" ? current : undefined;
    }, 20_000);
    expect(job.attempt).toBe(2);
    expect(job.events.find((e) => e.status === "retrying")).toMatchObject({ reason: "crashed", attempt: 1 });
    const { rows } = await pool.query("SELECT 1 FROM worker_processes WHERE id = $1", [dead]);
    expect(rows).toEqual([]);
  } finally {
    await worker.close();
  }
  // A clean shutdown deregisters.
  const { rows: left } = await pool.query("SELECT 1 FROM worker_processes WHERE id = $1", [
    worker.app.worker?.heartbeat.processId,
  ]);
  expect(left).toEqual([]);
});

test("a worker that died after its graphile job completed but before its success was written: the sweep queues the job again", async () => {
  const client = server.client(await server.token("hb-settling@example.com"));
  const { jobId } = await client.jobs.enqueue.mutate(emailItem({}, "settling-crash@example.com"));
  const pool = server.app.services.pool;
  // Running under the dead process, and graphile-worker's job already completed (deleted).
  await silentProcessRunning(jobId, "dead-worker-2");
  await pool.query("DELETE FROM graphile_worker._private_jobs WHERE key = $1", [jobId]);

  const worker = await startTestApp(
    {
      DATABASE_URL: server.databaseUrl,
      SMTP_URL: smtp.url,
      HEARTBEAT_INTERVAL_MS: "200",
      HEARTBEAT_TIMEOUT_MS: "1000",
    },
    {},
  );
  try {
    const job = await eventually(async () => {
      const current = await client.jobs.get.query({ jobId });
      return current.status === "succeeded" ? current : undefined;
    }, 20_000);
    expect(job.attempt).toBe(2);
    expect(job.events.find((e) => e.status === "retrying")).toMatchObject({ reason: "crashed", attempt: 1 });
  } finally {
    await worker.close();
  }
});
