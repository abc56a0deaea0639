// Scale-out: two worker processes and two servers on one database. Every job
// runs once (each email arrives exactly once), and subscribers on both
// servers receive every event.
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { spawnWorker, type WorkerProcess } from "../support/processes.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";
import { record } from "../support/stream.js";

const JOBS = Number(process.env.FAULT_JOBS ?? 300);

let smtp: TestSmtpServer;
let serverA: TestApp;
let serverB: TestApp;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  smtp = await startTestSmtpServer();
  serverA = await startTestApp({ WORKER: "off", SMTP_URL: smtp.url });
  serverB = await startTestApp({ WORKER: "off", SMTP_URL: smtp.url, DATABASE_URL: serverA.databaseUrl });
});
afterAll(async () => {
  for (const w of workers) w.kill("SIGKILL");
  await serverB?.close();
  await serverA?.close();
  await smtp?.close();
});

test(
  `two workers, two servers, ${JOBS} jobs: each effect once, every event on both servers`,
  async () => {
    const token = await serverA.token("scale@example.com");
    const a = serverA.client(token);
    const b = serverB.client(token);
    const streamA = record(a);
    const streamB = record(b);
    await Promise.all([streamA.started, streamB.started]);
    const env = { DATABASE_URL: serverA.databaseUrl, SMTP_URL: smtp.url, WORKER_CONCURRENCY: "8" };
    workers.push(spawnWorker(env), spawnWorker(env));
    const half = Math.floor(JOBS / 2);
    const make = (from: number, count: number) =>
      Array.from({ length: count }, (_, i) => ({
        type: "email" as const,
        payload: { to: `scale${from + i}@example.com`, subject: `Scale ${from + i}`, body: "b" },
      }));
    const [first, second] = await Promise.all([
      a.jobs.enqueueMany.mutate({ jobs: make(0, half) }),
      b.jobs.enqueueMany.mutate({ jobs: make(half, JOBS - half) }),
    ]);
    const jobIds = [...first.jobIds, ...second.jobIds];
    await eventually(
      async () => {
        const { rows } = await serverA.app.services.pool.query<{ n: number }>(
          "SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status <> 'succeeded'",
          [jobIds],
        );
        return rows[0]?.n === 0;
      },
      Math.max(120_000, JOBS * 40),
    );
    const { rows: log } = await serverA.app.services.pool.query<{ id: string }>(
      "SELECT txid::text || '-' || id::text AS id FROM job_events WHERE job_id = ANY($1) ORDER BY job_events.txid, job_events.id",
      [jobIds],
    );
    const expected = log.map((r) => r.id);
    await streamA.waitFor((events) => events.length >= expected.length, 30_000);
    await streamB.waitFor((events) => events.length >= expected.length, 30_000);
    streamA.stop();
    streamB.stop();
    expect(streamA.events.map((e) => e.id)).toEqual(expected);
    expect(streamB.events.map((e) => e.id)).toEqual(expected);

    const bySubject = new Map<string, number>();
    for (const m of smtp.messages) bySubject.set(m.mail.subject ?? "", (bySubject.get(m.mail.subject ?? "") ?? 0) + 1);
    expect(bySubject.size).toBe(JOBS);
    expect([...bySubject.values()].every((n) => n === 1)).toBe(true);
    const { rows: attempts } = await serverA.app.services.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND attempt <> 1",
      [jobIds],
    );
    expect(attempts[0]?.n).toBe(0);
    // biome-ignore lint/suspicious/noConsole: the fault script reports its figures
    console.log(`scale-out: ${JOBS} jobs on 2 workers, ${expected.length} events on each of 2 servers, duplicates 0`);
  },
  Math.max(240_000, JOBS * 60),
);
