// Fault: Postgres freezes (every process of the test's own embedded instance
// stopped with SIGSTOP, never the shared server): the sockets stay open and
// nothing answers, so only a client-side bound (DB_QUERY_TIMEOUT_MS) ends a
// call. It fails SERVICE_UNAVAILABLE instead of hanging for the outage, the
// connection that timed out is destroyed rather than pooled again, and once
// Postgres runs again the app, worker included, carries on.
import { execFileSync } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import type pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type EmbeddedDatabase, startEmbeddedPostgres } from "../../server/db/embedded.js";
import { createLogger } from "../../server/logger.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { rejection } from "../support/fixtures.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";

const logger = createLogger("silent");
const POOL_SIZE = 8;

let dir: string;
let postgres: EmbeddedDatabase;
let smtp: TestSmtpServer;
let app: TestApp;
let frozen: number[] = [];

/** The postmaster (from its pid file) and its children: every process of this instance. */
async function postgresProcesses(): Promise<number[]> {
  const pidFile = await fs.readFile(path.join(dir, "postgres", "postmaster.pid"), "utf8");
  const postmaster = Number(pidFile.split("\n")[0]);
  let children = "";
  try {
    children = execFileSync("pgrep", ["-P", String(postmaster)], { encoding: "utf8" });
  } catch {
    // pgrep exits 1 when there are none
  }
  return [postmaster, ...children.split("\n").filter(Boolean).map(Number)];
}

async function freeze(): Promise<void> {
  // The postmaster first, so it forks no new backend; then its children, listed again after it stopped.
  const [postmaster] = await postgresProcesses();
  process.kill(postmaster as number, "SIGSTOP");
  frozen = [postmaster as number];
  for (const pid of (await postgresProcesses()).slice(1)) {
    process.kill(pid, "SIGSTOP");
    frozen.push(pid);
  }
}

function thaw(): void {
  for (const pid of frozen) {
    try {
      process.kill(pid, "SIGCONT");
    } catch {
      // already gone
    }
  }
  frozen = [];
}

beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-pgfrozen-"));
  postgres = await startEmbeddedPostgres(dir, logger, "faults");
  smtp = await startTestSmtpServer();
  app = await startTestApp({
    DATABASE_URL: postgres.url,
    SMTP_URL: smtp.url,
    DB_POOL_SIZE: String(POOL_SIZE),
    DB_QUERY_TIMEOUT_MS: "1000",
  });
}, 120_000);
afterAll(async () => {
  thaw(); // whatever happened, never leave Postgres stopped
  await app?.close();
  await postgres?.stop();
  await smtp?.close();
  await fs.rm(dir, { recursive: true, force: true });
});

test("Postgres frozen: a call answers SERVICE_UNAVAILABLE, its connection is destroyed, and all works once it resumes", async () => {
  const token = await app.token("frozen@example.com");
  const client = app.client(token);
  const pool: pg.Pool = app.app.services.pool;
  // Warm: the token is cached and the pool holds an idle connection, so the
  // frozen call reaches Postgres on an open socket (not a new connection,
  // which connectionTimeoutMillis already bounds).
  await client.jobs.list.query({});
  expect(pool.idleCount).toBeGreaterThan(0);

  const acquired = new Set<pg.PoolClient>();
  const removed = new Set<pg.PoolClient>();
  const onAcquire = (c: pg.PoolClient) => acquired.add(c);
  const onRemove = (c: pg.PoolClient) => removed.add(c);
  pool.on("acquire", onAcquire);
  pool.on("remove", onRemove);
  let timedOutPids: number[];
  try {
    await freeze();
    // Bounded here too, so that without the fix this fails with a reason rather than a vitest timeout.
    const error = await rejection(client.jobs.list.query({}, { signal: AbortSignal.timeout(20_000) }));
    expect(error.data?.code, `no answer from the app: ${error.message}`).toBe("SERVICE_UNAVAILABLE");
    expect(error.data?.httpStatus).toBe(503);
    // Every connection used while Postgres was frozen timed out, and is gone from the pool.
    expect(acquired.size).toBeGreaterThan(0);
    await eventually(async () => [...acquired].every((c) => removed.has(c)));
    timedOutPids = [...acquired].map((c) => (c as pg.PoolClient & { processID: number }).processID);
  } finally {
    pool.off("acquire", onAcquire);
    pool.off("remove", onRemove);
    thaw();
  }

  // Calls succeed again, one after another...
  for (let i = 0; i < 5; i++) expect((await client.jobs.list.query({})).items).toEqual([]);
  // ...and every connection the pool holds answers, none of them one that timed out.
  const pids = await Promise.all(
    Array.from({ length: POOL_SIZE }, async () => {
      const { rows } = await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
      return rows[0]?.pid;
    }),
  );
  expect(pids.filter((pid) => timedOutPids.includes(pid as number))).toEqual([]);
  expect(pool.totalCount).toBeLessThanOrEqual(POOL_SIZE);
  // Postgres ends the backends whose client went away once it runs again.
  await eventually(async () => {
    const { rows } = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE pid = ANY($1)",
      [timedOutPids],
    );
    return rows[0]?.n === 0;
  });

  // The worker (graphile-worker on the same pool) carries on too.
  const { jobId } = await client.jobs.enqueue.mutate({
    type: "email",
    payload: { to: "after-freeze@example.com", subject: "thawed", body: "b" },
  });
  await eventually(async () => (await client.jobs.get.query({ jobId })).status === "succeeded", 30_000);
}, 90_000);
