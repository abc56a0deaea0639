// Fault: SIGKILL one of two worker processes while email, webhook and export jobs run.
// Nothing is lost, every job ends terminal within the bound, every job's effect
// is in the ledger (emails by Message-ID, webhooks by webhook-id), and
// duplicates happen only for jobs in flight at the kill. Heartbeats are
// shortened here (0.5 s, swept after 3 s) to keep the run short.
// Full size: npm run fault:kill-worker (FAULT_JOBS=1000).
import { existsSync } from "node:fs";
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { spawnWorker, type WorkerProcess } from "../support/processes.js";
import { startReceiver, type TestReceiver } from "../support/receiver.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

const JOBS = Number(process.env.FAULT_JOBS ?? 80);

let smtp: TestSmtpServer;
let receiver: TestReceiver;
let server: TestApp;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  smtp = await startTestSmtpServer();
  receiver = await startReceiver();
  server = await startTestApp({ WORKER: "off", SMTP_URL: smtp.url, WEBHOOK_ALLOW_LOOPBACK: "true" });
});
afterAll(async () => {
  for (const w of workers) w.kill("SIGKILL");
  await server?.close();
  await receiver?.close();
  await smtp?.close();
});

test(`SIGKILL one of two workers during ${JOBS} jobs: 0 lost, all terminal, effects in the ledger`, async () => {
  const client = server.client(await server.token("chaos@example.com"));
  const endpoint = await client.webhooks.createEndpoint.mutate({ url: receiver.url("/ledger") });
  // Each webhook takes 100 ms to answer, so jobs are in flight when the kill lands.
  receiver.script(...Array.from({ length: JOBS * 3 }, () => ({ status: 200, delayMs: 100 })));
  const env = {
    DATABASE_URL: server.databaseUrl,
    SMTP_URL: smtp.url,
    WEBHOOK_ALLOW_LOOPBACK: "true",
    WORKER_CONCURRENCY: "8",
    HEARTBEAT_INTERVAL_MS: "500",
    HEARTBEAT_TIMEOUT_MS: "3000",
    EXPORT_DIR: server.app.services.config.exportDir,
  };
  workers.push(spawnWorker(env), spawnWorker(env));
  const { jobIds } = await client.jobs.enqueueMany.mutate({
    jobs: Array.from({ length: JOBS }, (_, i) =>
      i % 10 === 9
        ? { type: "export" as const, payload: { format: "ndjson" as const, filter: { type: "email" } } }
        : i % 2 === 0
          ? { type: "email" as const, payload: { to: `ledger${i}@example.com`, subject: `Ledger ${i}`, body: "b" } }
          : { type: "webhook" as const, payload: { endpointId: endpoint.id, event: "ledger.entry", data: { i } } },
    ),
  });

  // Kill worker 0 once work is under way.
  await eventually(async () => receiver.received.length + smtp.messages.length >= JOBS / 8, 60_000);
  const { rows: inFlight } = await server.app.services.pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM jobs WHERE status = 'running'",
  );
  workers[0]?.kill("SIGKILL");
  const killedAt = Date.now();

  await eventually(async () => {
    const { rows } = await server.app.services.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status NOT IN ('succeeded', 'failed', 'cancelled')",
      [jobIds],
    );
    return rows[0]?.n === 0;
  }, 60_000).catch(async (error) => {
    const { rows } = await server.app.services.pool.query(
      "SELECT status, attempt, error, worker_process_id FROM jobs WHERE id = ANY($1) AND status NOT IN ('succeeded') LIMIT 5",
      [jobIds],
    );
    const procs = await server.app.services.pool.query(
      "SELECT id, graphile_worker_ids, last_heartbeat_at FROM worker_processes",
    );
    const gw = await server.app.services.pool.query(
      "SELECT key, locked_by, attempts, run_at, last_error FROM graphile_worker._private_jobs LIMIT 5",
    );
    // biome-ignore lint/suspicious/noConsole: diagnostics for a failed fault run
    console.log(
      JSON.stringify(
        { rows, procs: procs.rows, gw: gw.rows, out: workers.map((w) => w.output().slice(-2000)) },
        null,
        1,
      ),
    );
    throw error;
  });
  const recoverySeconds = (Date.now() - killedAt) / 1000;

  const { rows: outcome } = await server.app.services.pool.query<{ status: string; n: number }>(
    "SELECT status, count(*)::int AS n FROM jobs WHERE id = ANY($1) GROUP BY status",
    [jobIds],
  );
  expect(outcome).toEqual([{ status: "succeeded", n: JOBS }]);

  // The ledger: every job's effect arrived; count duplicates.
  const emailsById = new Map<string, number>();
  for (const m of smtp.messages)
    emailsById.set(m.mail.messageId ?? "", (emailsById.get(m.mail.messageId ?? "") ?? 0) + 1);
  const hooksById = new Map<string, number>();
  for (const r of receiver.received) {
    const id = String(r.headers["webhook-id"]);
    hooksById.set(id, (hooksById.get(id) ?? 0) + 1);
  }
  const { rows: files } = await server.app.services.pool.query<{ job_id: string; path: string }>(
    "SELECT job_id, path FROM export_files WHERE job_id = ANY($1)",
    [jobIds],
  );
  const exported = new Set(files.filter((f) => existsSync(f.path)).map((f) => f.job_id));
  const missing = jobIds.filter((jobId, i) =>
    i % 10 === 9
      ? !exported.has(jobId)
      : i % 2 === 0
        ? !emailsById.has(`<${jobId}@typed-jobs.local>`)
        : !hooksById.has(`msg_${jobId.replaceAll("-", "")}`),
  );
  expect(missing).toEqual([]);
  const duplicates =
    [...emailsById.values()].filter((n) => n > 1).length + [...hooksById.values()].filter((n) => n > 1).length;
  const crashed = await server.app.services.pool.query<{ n: number }>(
    "SELECT count(DISTINCT job_id)::int AS n FROM job_events WHERE reason = 'crashed' AND job_id = ANY($1)",
    [jobIds],
  );
  // biome-ignore lint/suspicious/noConsole: the fault script reports its figures
  console.log(
    `kill-worker: ${JOBS} jobs, lost 0, recovered ${crashed.rows[0]?.n} crashed attempts, ` +
      `all terminal ${recoverySeconds.toFixed(1)} s after the kill, duplicate effects ${duplicates} ` +
      `(in flight at the kill: ${inFlight[0]?.n})`,
  );
  // At-least-once: duplicates only among jobs in flight at the kill.
  expect(duplicates).toBeLessThanOrEqual(inFlight[0]?.n ?? 0);
  expect(recoverySeconds).toBeLessThan(60);
}, 180_000);
