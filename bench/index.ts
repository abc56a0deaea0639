/**
 * `npm run bench [-- --size tiny|default] [--concurrency N]`: our pipeline
 * measured side by side with raw graphile-worker in the same run, on a fresh
 * embedded Postgres (or BENCH_DATABASE_URL's server), as ratios. Prints a
 * table and writes JSON to bench-results/ (git-ignored). No timed assertions:
 * this reports where we stand.
 *
 * Sections (`--only a,b`; all by default): enqueue, drain, depth, latency,
 * fanout (ours against raw graphile-worker, in this process), and the real
 * work with peers beside us (bench/real-work.ts): email (emails end to end
 * through an SMTP server the bench runs), webhook (deliveries end to end to a
 * receiver it runs), noop-peers (no-op jobs), each for Typed Jobs started as
 * `npm start` starts it and for pg-boss 12 and 10, BullMQ (Redis at REDIS_URL,
 * default 127.0.0.1:6379) and raw graphile-worker, each in its own process at
 * concurrency 10 (their packages: bench/peers/, installed on first use).
 *
 * Environment switches: BENCH_DATABASE_URL (a Postgres server to use instead
 * of the embedded one); BENCH_SQL (run in each fresh database of the first
 * sections); BENCH_SERVER_FLAGS (node flags of the fan-out section's server);
 * for the real-work sections, BENCH_SYSTEMS="typed,bullmq" (only those
 * systems), BENCH_PROFILE_DIR=<dir> (a V8 CPU profile of our process, and the
 * measured window beside it for bench/profile-summary.ts), BENCH_STATEMENTS=1
 * (the embedded Postgres preloads pg_stat_statements, and each run of ours
 * ends with a table of its statements per job: calls, rows, exec time, WAL;
 * not with BENCH_DATABASE_URL), BENCH_DASHBOARD=1 (while ours runs, one
 * jobs.events SSE stream is open for the whole run, as a dashboard holds
 * one, so the event hub reads the log; the events it got are printed).
 */
import { fork, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { type Runner, run } from "graphile-worker";
import pg from "pg";
import { startApp } from "../server/app.js";
import { issueToken } from "../server/auth/tokens.js";
import { loadConfig } from "../server/config.js";
import { ensureDatabase, startEmbeddedPostgres } from "../server/db/embedded.js";
import { migrate } from "../server/db/migrate.js";
import { createPool } from "../server/db/pool.js";
import { enqueueJobs } from "../server/lifecycle/enqueue.js";
import { createLogger } from "../server/logger.js";
import { graphileLogger } from "../server/worker/graphile-logger.js";
import { graphileBatching } from "../server/worker/runner.js";
import { trpcClient } from "../test/support/app.js";
import { REAL_WORK_SECTIONS, type RealWorkSection, runRealWork } from "./real-work.js";

const SIZES = {
  tiny: { enqueue: 200, batch: 1_000, drain: 500, depth: 2_000, latencyRate: 100, latencySeconds: 2, subscribers: 20 },
  default: {
    enqueue: 4_000,
    batch: 10_000,
    drain: 10_000,
    depth: 100_000,
    latencyRate: 500,
    latencySeconds: 10,
    subscribers: 1_000,
  },
} as const;

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const sizeName = option("size", "default") as keyof typeof SIZES;
const size: Record<keyof (typeof SIZES)["default"], number> = { ...(SIZES[sizeName] ?? SIZES.default) };
/** `--drain N`: drain this many jobs instead of the size's number. */
size.drain = Number(option("drain", String(size.drain)));
/** `--subscribers N`: the fan-out's subscriber count. */
size.subscribers = Number(option("subscribers", String(size.subscribers)));
const concurrency = Number(option("concurrency", "8"));
/**
 * `--repeat N`: run the drain comparison N times, ours and raw interleaved,
 * and report medians: on a shared 2-core machine one run's figures move by
 * ±20%, raw graphile-worker's as much as ours.
 */
const repeat = Number(option("repeat", sizeName === "tiny" ? "1" : "3"));
/** `--only enqueue,drain,depth,latency,fanout,email,webhook,noop-peers`: run some sections (while working on one). */
const only = new Set(
  option("only", ["enqueue", "drain", "depth", "latency", "fanout", ...REAL_WORK_SECTIONS].join(",")).split(","),
);
const logger = createLogger("silent");
/** Our shipped local queue size: the batched raw run uses the same, as the comparison requires. */
const shippedLocalQueue = loadConfig({ DATABASE_URL: "postgresql://unused/db" }).WORKER_LOCAL_QUEUE_SIZE;
const noop = async () => ({ messageId: "<noop@bench>", accepted: [], response: "noop" });
const emailPayload = { to: "bench@example.com", subject: "Bench", body: "b" };

const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-benchrun-"));
let serverUrl = process.env.BENCH_DATABASE_URL;
let stopPostgres = async () => {};
/** BENCH_STATEMENTS=1: pg_stat_statements on the embedded Postgres (a server of BENCH_DATABASE_URL may not preload it). */
const statements = Boolean(process.env.BENCH_STATEMENTS) && !serverUrl;
if (process.env.BENCH_STATEMENTS && serverUrl) {
  process.stdout.write(
    "bench: BENCH_STATEMENTS is ignored with BENCH_DATABASE_URL (its server may not preload pg_stat_statements)\n",
  );
}
if (!serverUrl) {
  const extraFlags = statements
    ? ["-c", "shared_preload_libraries=pg_stat_statements", "-c", "pg_stat_statements.track=all"]
    : [];
  const embedded = await startEmbeddedPostgres(dataDir, logger, "postgres", { extraFlags });
  serverUrl = embedded.url;
  stopPostgres = embedded.stop;
}

/** A fresh, migrated database for one measurement. */
async function freshDatabase(poolSize = concurrency + 4): Promise<{ url: string; pool: pg.Pool }> {
  const name = `bench_${randomBytes(5).toString("hex")}`;
  await ensureDatabase(serverUrl as string, name);
  const url = new URL(serverUrl as string);
  url.pathname = `/${name}`;
  const pool = createPool(url.toString(), poolSize);
  await migrate(pool, logger);
  if (process.env.BENCH_SQL) await pool.query(process.env.BENCH_SQL);
  return { url: url.toString(), pool };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs = 600_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("benchmark step timed out");
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * The cluster's write-ahead log and commit counters (the bench's Postgres runs
 * nothing else), read on a connection of their own. A backend reports its
 * counts when it has been idle a while or when it exits, so a reading is only
 * whole once the connections whose work it counts are gone: a drain of 0.4 s
 * otherwise reads as no WAL at all. A pool's end() does not wait for its
 * connections to close, so this waits until no other client backend is left
 * on the database (each reports its counts before it leaves pg_stat_activity).
 * Commits count every committed transaction, read-only ones included.
 */
async function walCounters(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    // Not for ever: a reading a little short beats no bench.
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      const { rowCount } = await client.query(
        `SELECT 1 FROM pg_stat_activity
          WHERE datname = current_database() AND backend_type = 'client backend' AND pid <> pg_backend_pid()`,
      );
      if (!rowCount) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const { rows } = await client.query<{ bytes: string; fpi: string; commits: string }>(
      `SELECT wal_bytes::text AS bytes, wal_fpi::text AS fpi,
              (SELECT sum(xact_commit)::text FROM pg_stat_database) AS commits
         FROM pg_stat_wal`,
    );
    const row = rows[0] as { bytes: string; fpi: string; commits: string };
    return { bytes: Number(row.bytes), fpi: Number(row.fpi), commits: Number(row.commits) };
  } finally {
    await client.end();
  }
}

/** The machine's busy CPU time so far, in ms (all processes: ours, Postgres, the bench). */
function busyCpuMs(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return ((user + nice + system + irq + softirq + steal) * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Write-ahead log and commits per job between two readings. */
function walPerJob(before: Awaited<ReturnType<typeof walCounters>>, after: typeof before, jobs: number) {
  return {
    bytes: (after.bytes - before.bytes) / jobs,
    fullPageImages: (after.fpi - before.fpi) / jobs,
    commits: (after.commits - before.commits) / jobs,
  };
}

const count = async (pool: pg.Pool, sql: string, params: unknown[] = []) =>
  Number((await pool.query<{ n: string }>(sql, params)).rows[0]?.n ?? 0);

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

/**
 * TRPC_FAST_PATHS=off in the environment: tRPC's adapter answers every call, in
 * the apps started here as in the fan-out's server process (which inherits the
 * environment); measures what the hand-written routes are worth.
 */
const fastPaths = process.env.TRPC_FAST_PATHS ? { TRPC_FAST_PATHS: process.env.TRPC_FAST_PATHS } : {};
if (fastPaths.TRPC_FAST_PATHS) process.stdout.write(`bench: TRPC_FAST_PATHS=${fastPaths.TRPC_FAST_PATHS}\n`);

async function startBenchApp(url: string, env: Record<string, string>, tuningRun = false) {
  const config = loadConfig({
    ...fastPaths,
    NODE_ENV: "test",
    PORT: "0",
    HOST: "127.0.0.1",
    DATABASE_URL: url,
    DATA_DIR: dataDir,
    SMTP_URL: "smtp://127.0.0.1:2525",
    LOG_LEVEL: "silent",
    DB_POOL_SIZE: String(concurrency + 10),
    WORKER_CONCURRENCY: String(concurrency),
    ...env,
  });
  return startApp(config, logger, { client: "none", ...(tuningRun ? { tuning: { email: { run: noop } } } : {}) });
}

/**
 * Env overrides for a section whose one user enqueues `counts` through the API
 * at once: a burst below what it needs is raised to it (the rate stays), and
 * said on stdout, so every figure is read with the limits it ran under.
 */
function raisedLimits(section: string, counts: { jobs: number; emails: number }): Record<string, string> {
  const defaults = loadConfig({ DATABASE_URL: "postgresql://unused/db" });
  const raised: Record<string, string> = {};
  if (defaults.ENQUEUE_BURST > 0 && counts.jobs > defaults.ENQUEUE_BURST) raised.ENQUEUE_BURST = String(counts.jobs);
  if (defaults.EMAIL_BURST > 0 && counts.emails > defaults.EMAIL_BURST) raised.EMAIL_BURST = String(counts.emails);
  for (const [name, value] of Object.entries(raised)) {
    const was = defaults[name as keyof typeof defaults];
    process.stdout.write(
      `bench: ${section} raises ${name} from ${was} to ${value} (its one user enqueues ${value} at once)\n`,
    );
  }
  return raised;
}

/** MAX_STREAMS_PER_USER raised to `streams` when the default is below it (one user opens them all), said on stdout. */
function raisedStreams(section: string, streams: number): Record<string, string> {
  const { MAX_STREAMS_PER_USER: limit } = loadConfig({ DATABASE_URL: "postgresql://unused/db" });
  if (limit === 0 || streams <= limit) return {};
  process.stdout.write(
    `bench: ${section} raises MAX_STREAMS_PER_USER from ${limit} to ${streams} (its one user opens ${streams} streams)\n`,
  );
  return { MAX_STREAMS_PER_USER: String(streams) };
}

interface DrainResult {
  /** jobs/s */
  rate: number;
  wal: ReturnType<typeof walPerJob>;
  /** Busy CPU ms per job, the whole machine (our process or graphile's, Postgres, the bench's polling). */
  cpuMsPerJob: number;
}

/**
 * A stock pool for raw graphile-worker: ours plans prepared statements, and so
 * add_job's PL/pgSQL, differently (server/db/pool.ts).
 */
const stockPool = (url: string) => new pg.Pool({ connectionString: url, max: concurrency + 4 });

/**
 * Every drain starts from a vacuumed, analysed database and a checkpoint, so
 * none pays for the setup's writes: neither a checkpoint owed by the setup or
 * a run before it, nor autovacuum (which the setup's inserts would wake, at a
 * moment of its choosing) during the drain.
 */
async function settle(pool: pg.Pool): Promise<void> {
  await pool.query("VACUUM ANALYZE");
  await pool.query("CHECKPOINT");
}

/** Drains `jobs` queued no-op graphile jobs with raw graphile-worker. */
async function rawDrain(jobs: number, batched: boolean): Promise<DrainResult> {
  const { url, pool: setup } = await freshDatabase();
  try {
    await setup.query(
      "SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(SELECT ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec FROM generate_series(1, $1)))",
      [jobs],
    );
    await settle(setup);
  } finally {
    await setup.end();
  }
  const walBefore = await walCounters(url);
  const pool = stockPool(url);
  let runner: Runner | undefined;
  let rate: number;
  let cpuMsPerJob: number;
  try {
    const cpuBefore = busyCpuMs();
    const started = Date.now();
    runner = await run({
      pgPool: pool,
      concurrency,
      noHandleSignals: true,
      pollInterval: 1000,
      taskList: { noop: async () => {} },
      logger: graphileLogger(logger),
      ...(batched ? { preset: { worker: graphileBatching(shippedLocalQueue) } } : {}),
    });
    await waitUntil(async () => (await count(pool, "SELECT count(*) AS n FROM graphile_worker._private_jobs")) === 0);
    rate = jobs / ((Date.now() - started) / 1000);
    cpuMsPerJob = (busyCpuMs() - cpuBefore) / jobs;
  } finally {
    // The runner holds pool clients: the pool only ends once it has stopped.
    await runner?.stop();
    await pool.end();
  }
  return { rate, wal: walPerJob(walBefore, await walCounters(url), jobs), cpuMsPerJob };
}

/**
 * Drains no-op jobs through our full pipeline (state, events, NOTIFY): queues
 * `jobs`, then times the first `measured` of them.
 */
async function ourDrain(jobs: number, measured = jobs): Promise<DrainResult> {
  const { url, pool: setup } = await freshDatabase();
  try {
    const user = await setup.query<{ id: string }>(
      "INSERT INTO users (id, email) VALUES (gen_random_uuid(), 'b@x.co') RETURNING id",
    );
    const owner = user.rows[0]?.id as string;
    for (let done = 0; done < jobs; done += 10_000) {
      const n = Math.min(10_000, jobs - done);
      const items = Array.from({ length: n }, () => ({ type: "email" as const, payload: emailPayload }));
      await enqueueJobs(setup, owner, items, { idempotencyTtlHours: 24 });
    }
    await settle(setup);
  } finally {
    await setup.end();
  }
  const walBefore = await walCounters(url);
  const poll = new pg.Pool({ connectionString: url, max: 1 });
  let app: Awaited<ReturnType<typeof startBenchApp>> | undefined;
  let rate: number;
  let cpuMsPerJob: number;
  try {
    const cpuBefore = busyCpuMs();
    const started = Date.now();
    app = await startBenchApp(url, {}, true);
    // Counting a growing jobs table is real work for Postgres (5 to 39 ms a
    // count in a 10,000-job drain, more with 100,000 waiting, on the cores the
    // drain uses): poll it every 2 s, and take the end time from the
    // measured-th job's recorded completion.
    await waitUntil(
      async () => (await count(poll, "SELECT count(*) AS n FROM jobs WHERE status = 'succeeded'")) >= measured,
      600_000,
      2_000,
    );
    const { rows } = await poll.query<{ ms: number }>(
      `SELECT extract(epoch FROM completed_at) * 1000 AS ms FROM jobs
        WHERE status = 'succeeded' ORDER BY completed_at OFFSET $1 - 1 LIMIT 1`,
      [measured],
    );
    rate = measured / ((Number(rows[0]?.ms) - started) / 1000);
    // Up to one poll interval after the end is counted too (idle, so little).
    cpuMsPerJob = (busyCpuMs() - cpuBefore) / measured;
  } finally {
    await app?.stop(1000);
    await poll.end();
  }
  // With more jobs queued than measured, the worker went on until it stopped: WAL per job is only exact when all are measured.
  return { rate, wal: walPerJob(walBefore, await walCounters(url), measured), cpuMsPerJob };
}

/**
 * A server process started as `npm start` starts it (production settings,
 * WORKER=off), on `url`'s database; resolves once it listens.
 */
async function startServerProcess(url: string, env: Record<string, string> = {}) {
  // The node flags of package.json's "start" script, and any of BENCH_SERVER_FLAGS (to profile the
  // server: BENCH_SERVER_FLAGS="--cpu-prof --cpu-prof-dir=prof"; node refuses --cpu-prof in NODE_OPTIONS).
  const child = spawn(
    process.execPath,
    [
      "--max-semi-space-size=4",
      ...(process.env.BENCH_SERVER_FLAGS?.split(" ").filter(Boolean) ?? []),
      "--import",
      "tsx",
      "server/main.ts",
    ],
    {
      env: {
        ...process.env,
        NODE_ENV: "production",
        DATABASE_URL: url,
        HOST: "127.0.0.1",
        PORT: "0",
        WORKER: "off",
        SMTP_URL: "smtp://127.0.0.1:2525",
        DATA_DIR: dataDir,
        LOG_LEVEL: "info",
        ...env,
      },
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const serverUrl = await new Promise<string>((resolve, reject) => {
    let buffered = "";
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (text: string) => {
      buffered += text;
      for (const line of buffered.split("\n")) {
        const started = /"url":"(http:[^"]+)"/.exec(line);
        if (started?.[1] && line.includes("Typed Jobs is up")) resolve(started[1]);
      }
    });
    child.once("exit", (code) => reject(new Error(`server process exited (${code})`)));
  });
  child.stdout.resume();
  return {
    url: serverUrl.replace("localhost", "127.0.0.1"),
    /** Resident set size of the server process, from /proc (bytes). */
    rss: async () => {
      const status = await fs.readFile(`/proc/${child.pid}/status`, "utf8").catch(() => "");
      return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

const results: Record<string, unknown> = { size: sizeName, concurrency };
const rows: [string, string, string, string][] = [];
const push = rows.push.bind(rows);
rows.push = (...items) => {
  for (const r of items) process.stderr.write(`measured: ${r.join(" | ")}\n`);
  return push(...items);
};
const ratio = (ours: number, raw: number) => (raw > 0 ? `${(ours / raw).toFixed(2)}x` : "n/a");
const median = (values: number[]) => percentile(values, 50);
/** The median of the per-run ratios (each run's pair shares the machine's mood), as text. */
const medianRatio = (pairs: [number, number][]) => `${median(pairs.map(([ours, raw]) => ours / raw)).toFixed(2)}x`;
const fmt = (n: number, unit: string) => `${Math.round(n).toLocaleString("en-US")} ${unit}`;

try {
  // 1. Enqueue: jobs.enqueue over HTTP from N clients vs raw add_job from N connections.
  if (only.has("enqueue")) {
    const { url, pool } = await freshDatabase();
    // One user enqueues every job of this section through the API: the buckets are on, at their defaults where those hold.
    const app = await startBenchApp(url, {
      WORKER: "off",
      ...raisedLimits("enqueue", { jobs: size.enqueue + size.batch, emails: size.enqueue + size.batch }),
    });
    const token = await issueToken(app.services.db, "bench@example.com");
    const client = trpcClient(app.url, token);
    // The clients run in their own process, as a web app's clients do.
    // This process is the server (WORKER off): its CPU over the run is the server's.
    const serverCpuBefore = process.cpuUsage();
    const http = await new Promise<{ rate: number; cpuMsPerRequest: number }>((resolve, reject) => {
      const clients = fork(
        path.join(import.meta.dirname, "enqueue-clients.ts"),
        [app.url, token, String(concurrency), String(size.enqueue)],
        { execArgv: ["--import", "tsx"] },
      );
      clients.on("message", (message: { rate: number; cpuMsPerRequest: number }) => resolve(message));
      clients.once("exit", (code) => reject(new Error(`enqueue clients exited (${code})`)));
    });
    const serverCpu = process.cpuUsage(serverCpuBefore);
    const serverCpuMsPerRequest = (serverCpu.user + serverCpu.system) / 1000 / size.enqueue;
    const oursRate = http.rate;
    const stock = stockPool(url);
    const raw = await Promise.all(Array.from({ length: concurrency }, () => stock.connect()));
    let next = 0;
    let started = Date.now();
    await Promise.all(
      raw.map(async (c) => {
        while (next++ < size.enqueue) await c.query("SELECT graphile_worker.add_job('noop', '{}'::json)");
      }),
    );
    const rawRate = size.enqueue / ((Date.now() - started) / 1000);
    for (const c of raw) c.release();
    rows.push([
      `enqueue over HTTP (jobs.enqueue), ${concurrency} clients`,
      fmt(oursRate, "jobs/s"),
      fmt(rawRate, "jobs/s"),
      ratio(oursRate, rawRate),
    ]);
    rows.push([
      "enqueue over HTTP: CPU per request, server / clients",
      `${serverCpuMsPerRequest.toFixed(2)} / ${http.cpuMsPerRequest.toFixed(2)} ms`,
      "",
      "",
    ]);
    results.enqueue = {
      ours: oursRate,
      raw: rawRate,
      serverCpuMsPerRequest,
      clientCpuMsPerRequest: http.cpuMsPerRequest,
    };

    // The same enqueues without HTTP: enqueueJobs from N concurrent callers in this process.
    const owner = (await app.services.db.user.findUniqueOrThrow({ where: { email: "bench@example.com" } })).id;
    next = 0;
    started = Date.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < size.enqueue) {
          await enqueueJobs(pool, owner, [{ type: "email", payload: emailPayload }], { idempotencyTtlHours: 24 });
        }
      }),
    );
    const directRate = size.enqueue / ((Date.now() - started) / 1000);
    rows.push([
      `enqueue without HTTP (enqueueJobs), ${concurrency} callers`,
      fmt(directRate, "jobs/s"),
      fmt(rawRate, "jobs/s"),
      ratio(directRate, rawRate),
    ]);
    results.enqueueDirect = { ours: directRate, raw: rawRate };

    started = Date.now();
    await client.jobs.enqueueMany.mutate({
      jobs: Array.from({ length: size.batch }, () => ({ type: "email" as const, payload: emailPayload })),
    });
    const oursBatch = (Date.now() - started) / 1000;
    started = Date.now();
    await stock.query(
      "SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(SELECT ROW('noop', '{}'::json, NULL, NULL, NULL, NULL, NULL, NULL)::graphile_worker.job_spec FROM generate_series(1, $1)))",
      [size.batch],
    );
    const rawBatch = (Date.now() - started) / 1000;
    rows.push([
      `enqueueMany of ${size.batch.toLocaleString("en-US")}`,
      `${oursBatch.toFixed(2)} s`,
      `${rawBatch.toFixed(2)} s (add_jobs)`,
      ratio(rawBatch, oursBatch),
    ]);
    results.enqueueMany = { oursSeconds: oursBatch, rawSeconds: rawBatch };
    await app.stop(1000);
    await stock.end();
    await pool.end();
  }

  // 2. Drain no-op jobs: our full pipeline vs raw graphile-worker (default, and batched).
  if (only.has("drain")) {
    const runs: { ours: DrainResult; rawDefault: DrainResult; rawBatched: DrainResult }[] = [];
    for (let i = 0; i < repeat; i++) {
      runs.push({
        ours: await ourDrain(size.drain),
        rawDefault: await rawDrain(size.drain, false),
        rawBatched: await rawDrain(size.drain, true),
      });
    }
    const medianOf = (pick: (run: (typeof runs)[number]) => number) => median(runs.map(pick));
    const ours = medianOf((run) => run.ours.rate);
    const rawDefault = medianOf((run) => run.rawDefault.rate);
    const rawBatched = medianOf((run) => run.rawBatched.rate);
    const of = repeat > 1 ? ` (median of ${repeat} runs)` : "";
    rows.push([
      `drain ${size.drain.toLocaleString("en-US")} no-op, raw default${of}`,
      fmt(ours, "jobs/s"),
      fmt(rawDefault, "jobs/s"),
      medianRatio(runs.map((run) => [run.ours.rate, run.rawDefault.rate])),
    ]);
    rows.push([
      `drain, raw with our batching (localQueue ${shippedLocalQueue}, batched completion)${of}`,
      fmt(ours, "jobs/s"),
      fmt(rawBatched, "jobs/s"),
      medianRatio(runs.map((run) => [run.ours.rate, run.rawBatched.rate])),
    ]);
    const walText = (pick: (run: (typeof runs)[number]) => DrainResult) =>
      `${(medianOf((run) => pick(run).wal.bytes) / 1024).toFixed(1)} kB, ` +
      `${medianOf((run) => pick(run).wal.fullPageImages).toFixed(2)} FPI, ` +
      `${medianOf((run) => pick(run).wal.commits).toFixed(2)} commits`;
    rows.push([
      "drain: WAL per job (vs raw batched)",
      walText((run) => run.ours),
      walText((run) => run.rawBatched),
      "",
    ]);
    const cpu = {
      ours: medianOf((run) => run.ours.cpuMsPerJob),
      rawDefault: medianOf((run) => run.rawDefault.cpuMsPerJob),
      rawBatched: medianOf((run) => run.rawBatched.cpuMsPerJob),
    };
    rows.push([
      "drain: busy CPU per job, whole machine (vs raw batched)",
      `${cpu.ours.toFixed(2)} ms`,
      `${cpu.rawBatched.toFixed(2)} ms (default: ${cpu.rawDefault.toFixed(2)} ms)`,
      medianRatio(runs.map((run) => [run.rawBatched.cpuMsPerJob, run.ours.cpuMsPerJob])),
    ]);
    results.drain = { ours, rawDefault, rawBatched, cpuMsPerJob: cpu, runs };
  }

  // 5. Queue depth: our drain rate with `depth` jobs waiting vs the empty-queue rate above.
  if (only.has("depth")) {
    // The rate while the queue is deep: time the first `drain` jobs of `depth`.
    const deep = (await ourDrain(size.depth, size.drain)).rate;
    const empty = (results.drain as { ours: number } | undefined)?.ours ?? (await ourDrain(size.drain)).rate;
    rows.push([
      `drain with ${size.depth.toLocaleString("en-US")} waiting`,
      fmt(deep, "jobs/s"),
      `${fmt(empty, "jobs/s")} (ours, ${size.drain.toLocaleString("en-US")})`,
      ratio(deep, empty),
    ]);
    results.depth = { deep, empty };
  }

  // 3. Latency at a fixed rate: enqueue -> running, and state change -> SSE event received.
  if (only.has("latency")) {
    const { url, pool } = await freshDatabase(40);
    const app = await startBenchApp(url, {}, true);
    const token = await issueToken(app.services.db, "latency@example.com");
    const user = await app.services.db.user.findUniqueOrThrow({ where: { email: "latency@example.com" } });
    const client = trpcClient(app.url, token);
    const eventLatencies: number[] = [];
    const sub = client.jobs.events.subscribe(
      {},
      { onData: ({ data }) => eventLatencies.push(Date.now() - data.at.getTime()) },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const total = size.latencyRate * size.latencySeconds;
    let failedEnqueues = 0;
    const interval = 1000 / size.latencyRate;
    const started = Date.now();
    for (let i = 0; i < total; i++) {
      const due = started + i * interval;
      const wait = due - Date.now();
      if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
      enqueueJobs(pool, user.id, [{ type: "email", payload: emailPayload }], { idempotencyTtlHours: 24 }).catch(() => {
        failedEnqueues += 1; // the enqueue path could not keep up with the rate
      });
    }
    await waitUntil(
      async () => (await count(pool, "SELECT count(*) AS n FROM jobs WHERE status <> 'succeeded'")) === 0,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    sub.unsubscribe();
    if (failedEnqueues > 0) rows.push([`enqueues refused at ${size.latencyRate}/s`, String(failedEnqueues), "", ""]);
    const { rows: starts } = await pool.query<{ ms: number }>(
      "SELECT extract(epoch FROM started_at - created_at) * 1000 AS ms FROM jobs",
    );
    const toRunning = starts.map((r) => Number(r.ms));
    rows.push([
      `enqueue -> running at ${size.latencyRate}/s (p50/p95/p99)`,
      `${percentile(toRunning, 50).toFixed(0)}/${percentile(toRunning, 95).toFixed(0)}/${percentile(toRunning, 99).toFixed(0)} ms`,
      "",
      "",
    ]);
    rows.push([
      `state change -> SSE event (p50/p95/p99)`,
      `${percentile(eventLatencies, 50)}/${percentile(eventLatencies, 95)}/${percentile(eventLatencies, 99)} ms`,
      "",
      `${eventLatencies.length} events`,
    ]);
    results.latency = {
      rate: size.latencyRate,
      toRunning: { p50: percentile(toRunning, 50), p95: percentile(toRunning, 95), p99: percentile(toRunning, 99) },
      toSubscriber: {
        p50: percentile(eventLatencies, 50),
        p95: percentile(eventLatencies, 95),
        p99: percentile(eventLatencies, 99),
        events: eventLatencies.length,
      },
    };
    await app.stop(1000);
    await pool.end();
  }

  // 4. Fan-out: many subscribers on one server, a steady event flow. The server
  // is its own process, started as `npm start` starts it (production, WORKER=off,
  // as a scaled-out server runs), so its memory is measured alone; the jobs run
  // in this process's worker, and the subscribers in a third process.
  if (only.has("fanout")) {
    const { url, pool } = await freshDatabase();
    const app = await startBenchApp(url, {}, true);
    // Every subscriber is the one fan-out user: past MAX_STREAMS_PER_USER the server is told to allow them all.
    const server = await startServerProcess(url, raisedStreams("fan-out", size.subscribers));
    const token = await issueToken(app.services.db, "fanout@example.com", { admin: true });
    const user = await app.services.db.user.findUniqueOrThrow({ where: { email: "fanout@example.com" } });
    const clients = fork(
      path.join(import.meta.dirname, "fanout-clients.ts"),
      [server.url, token, String(size.subscribers)],
      {
        execArgv: ["--import", "tsx"],
      },
    );
    // Registered once: a listener per report would pile up on the child.
    const exited = new Promise<never>((_resolve, reject) =>
      clients.once("exit", (code) => reject(new Error(`fan-out clients exited (${code})`))),
    );
    exited.catch(() => {}); // only a pending report cares
    const fromClients = (type: string) =>
      Promise.race([
        exited,
        new Promise<Record<string, unknown>>((resolve) => {
          const onMessage = (message: Record<string, unknown>) => {
            if (message.type !== type) return;
            clients.off("message", onMessage);
            resolve(message);
          };
          clients.on("message", onMessage);
        }),
      ]);
    await fromClients("ready");
    await new Promise((resolve) => setTimeout(resolve, 500));
    const rssBefore = await server.rss();
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      void server.rss().then((rss) => {
        rssPeak = Math.max(rssPeak, rss);
      });
    }, 100);
    // A steady flow: 10 jobs/s (30 events/s) to every subscriber for `latencySeconds`.
    const jobs = 10 * size.latencySeconds;
    const started = Date.now();
    for (let i = 0; i < jobs; i++) {
      await enqueueJobs(pool, user.id, [{ type: "email", payload: emailPayload }], { idempotencyTtlHours: 24 });
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await waitUntil(
      async () => (await count(pool, "SELECT count(*) AS n FROM jobs WHERE status <> 'succeeded'")) === 0,
    );
    const expected = jobs * 3 * size.subscribers;
    let report = await reportFromClients();
    for (let tries = 0; tries < 50 && (report.delivered as number) < expected; tries++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      report = await reportFromClients();
    }
    const seconds = (Date.now() - started) / 1000;
    clearInterval(sampler);
    clients.send({ type: "stop" });
    await server.stop();
    const delivered = report.delivered as number;
    const latencies = report.latencies as number[];
    rows.push([
      `fan-out to ${size.subscribers} subscribers, 30 events/s each`,
      `${fmt(delivered / seconds, "deliveries/s")} (${delivered.toLocaleString("en-US")} of ${expected.toLocaleString("en-US")}), p50/p99 ${percentile(latencies, 50)}/${percentile(latencies, 99)} ms`,
      "",
      `server process RSS ${Math.round(rssPeak / 2 ** 20)} MB peak (${Math.round(rssBefore / 2 ** 20)} MB with the subscribers connected, before the flow)`,
    ]);
    results.fanout = {
      subscribers: size.subscribers,
      delivered,
      expected,
      deliveriesPerSecond: delivered / seconds,
      p50: percentile(latencies, 50),
      p99: percentile(latencies, 99),
      serverRssPeakMb: rssPeak / 2 ** 20,
    };
    await app.stop(1000);
    await pool.end();

    async function reportFromClients() {
      const reply = fromClients("report");
      clients.send({ type: "report" });
      return reply;
    }
  }

  // 6. Real work beside peers: emails, webhooks and no-ops end to end, each system in its own process(es).
  const realWorkTables: string[] = [];
  const realWorkSections = REAL_WORK_SECTIONS.filter((section: RealWorkSection) => only.has(section));
  if (realWorkSections.length > 0) {
    const realWork = await runRealWork(
      {
        serverUrl,
        dataDir,
        size: sizeName === "tiny" ? "tiny" : "default",
        rows,
        raisedLimits,
        statements,
        dashboard: Boolean(process.env.BENCH_DASHBOARD),
      },
      realWorkSections,
    );
    Object.assign(results, realWork.results);
    realWorkTables.push(...realWork.tables);
  }

  const machine = `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`;
  results.machine = machine;
  process.stdout.write(
    [
      "",
      `Typed Jobs benchmark (${sizeName}, concurrency ${concurrency}; ${machine})`,
      "",
      "| measure | ours | raw graphile-worker | ratio |",
      "| --- | ---: | ---: | ---: |",
      ...rows.map((r) => `| ${r.join(" | ")} |`),
      "",
      ...realWorkTables,
      "The 1,000,000-row export: npm run bench:export",
      "",
    ].join("\n"),
  );
  await fs.mkdir("bench-results", { recursive: true });
  await fs.writeFile(path.join("bench-results", `bench-${Date.now()}.json`), JSON.stringify(results, null, 2));
} finally {
  await stopPostgres();
  await fs.rm(dataDir, { recursive: true, force: true });
}
process.exit(0);
