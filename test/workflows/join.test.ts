// Exactly-once joins: chord members finishing together in two worker
// processes release the callback once, and a completion recorded again (a
// retried write) releases nothing more.
import { afterAll, beforeAll, expect, test } from "vitest";
import type { JobRow } from "../../server/db/schema.js";
import { recordSuccess } from "../../server/lifecycle/attempts.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { spawnWorker, type WorkerProcess } from "../support/processes.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

const WORKFLOWS = 8;
const RECIPIENTS = 20; // the documented width

let smtp: TestSmtpServer;
let server: TestApp;
const workers: WorkerProcess[] = [];
beforeAll(async () => {
  smtp = await startTestSmtpServer();
  server = await startTestApp({ WORKER: "off", SMTP_URL: smtp.url });
});
afterAll(async () => {
  for (const w of workers) w.kill("SIGKILL");
  await server?.close();
  await smtp?.close();
});

test(`${WORKFLOWS} chords of ${RECIPIENTS} members in two worker processes: each callback runs once`, async () => {
  const client = server.client(await server.token("join@example.com"));
  const ids: string[] = [];
  for (let w = 0; w < WORKFLOWS; w++) {
    const { workflowId } = await client.workflows.start.mutate({
      name: "notify_all",
      input: {
        recipients: Array.from({ length: RECIPIENTS }, (_, i) => `m${w}-${i}@example.com`),
        subject: `Batch ${w}`,
        body: "b",
        reportTo: `report${w}@example.com`,
      },
    });
    ids.push(workflowId);
  }
  // Both processes start on a full queue, so members finish together in both.
  const env = { DATABASE_URL: server.databaseUrl, SMTP_URL: smtp.url, WORKER_CONCURRENCY: "10" };
  workers.push(spawnWorker(env), spawnWorker(env));
  const pool = server.app.services.pool;
  await eventually(async () => {
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM workflows WHERE id = ANY($1) AND status = 'succeeded'",
      [ids],
    );
    return rows[0]?.n === WORKFLOWS;
  }, 60_000);

  // Members really ran in both processes.
  const { rows: by } = await pool.query<{ n: number }>(
    "SELECT count(DISTINCT worker_process_id)::int AS n FROM jobs WHERE workflow_id = ANY($1)",
    [ids],
  );
  expect(by[0]?.n).toBe(2);
  for (let w = 0; w < WORKFLOWS; w++) {
    const reports = smtp.messages.filter((m) => m.envelopeTo.includes(`report${w}@example.com`));
    expect(reports, `workflow ${w}`).toHaveLength(1);
    expect(reports[0]?.mail.subject).toBe(`Batch ${w}: ${RECIPIENTS} delivered, 0 failed`);
  }
  const { rows: callbacks } = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM jobs WHERE workflow_id = ANY($1) AND payload->>'to' LIKE 'report%'",
    [ids],
  );
  expect(callbacks[0]?.n).toBe(WORKFLOWS);

  // A completion recorded a second time (as a retried write would) matches nothing and releases nothing.
  const { rows: members } = await pool.query<JobRow>(
    "SELECT * FROM jobs WHERE workflow_id = $1 AND payload->>'to' LIKE 'm%' LIMIT 1",
    [ids[0]],
  );
  const member = members[0] as JobRow;
  expect(await recordSuccess(pool, member, member.result)).toBe(false);
  const { rows: after } = await pool.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM jobs WHERE workflow_id = $1",
    [ids[0]],
  );
  expect(after[0]?.n).toBe(RECIPIENTS + 1);
}, 120_000);
