/**
 * Real work in `npm run bench`, with peers beside us in the same run (issue 16).
 * Sections (names for `--only`):
 *
 *   email       N emails end to end through an SMTP server the bench runs,
 *               from the first enqueue until the last message has arrived
 *               (counted by Message-ID) and its job is recorded done.
 *   webhook     N signed deliveries end to end to a receiver the bench runs
 *               (counted by webhook-id), the same way.
 *   noop-peers  N jobs that do nothing, from the first enqueue until the last
 *               is recorded done.
 *
 * N: 200 each at --size tiny; 2,000 emails, 2,000 webhooks, 20,000 no-ops at
 * the default size. The systems, each in its own process(es) at concurrency 10
 * and, on Postgres, in a fresh database of the bench's one Postgres server:
 *
 * - Typed Jobs, started as `npm start` starts it (production, server/main.ts;
 *   for no-ops bench/ours-noop-main.ts, the same with the email task's run
 *   doing nothing) and fed over HTTP with jobs.enqueueMany of 500, as one API
 *   user whose bucket bursts are raised to N (said on stdout).
 * - Peers (bench/peers/, their packages in bench/peers/package.json, installed
 *   on first use): pg-boss 12 and pg-boss 10 tuned for throughput, BullMQ on the
 *   Redis at REDIS_URL (default 127.0.0.1:6379) under a key prefix of this run
 *   whose keys are deleted at the end, raw graphile-worker with its defaults
 *   (and, for no-ops, with the batching we ship). Each enqueues in batches of
 *   500 from its own worker process and does the same work per job
 *   (bench/peers/work.mjs: nodemailer as server/email/transport.ts sets it up;
 *   our own webhook delivery code; nothing).
 *
 * Per system: jobs/s; CPU ms per job of its processes and its store (the
 * Postgres backends of its database, or redis-server), from /proc; for
 * Postgres, WAL bytes and commits per job; what it keeps per job (and how much
 * its database or Redis memory grew). A peer that fails gets a row saying why
 * and the bench goes on; Typed Jobs failing fails the bench. Goals are
 * reported, not asserted.
 */
import { type ChildProcess, fork, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { cpus } from "node:os";
import path from "node:path";
import pg from "pg";
import { SMTPServer } from "smtp-server";
import { SMTPConnection } from "smtp-server/lib/smtp-connection.js";
import { hashToken } from "../server/auth/tokens.js";
import { newSecret } from "../server/webhooks/signing.js";
import { transformer } from "../shared/transformer.js";

const ROOT = path.resolve(import.meta.dirname, "..");
const PEERS = path.join(ROOT, "bench", "peers");
const CONCURRENCY = 10;
/** Jobs per enqueue call, ours (jobs.enqueueMany) and the peers' (their bulk inserts). */
const FEED_BATCH = 500;
/** A run that makes no progress this long fails. */
const STALL_MS = 60_000;
/** USER_HZ: /proc reports CPU time in ticks of 10 ms. */
const TICK_MS = 10;

export const REAL_WORK_SIZES = {
  tiny: { email: 200, webhook: 200, noop: 200 },
  default: { email: 2_000, webhook: 2_000, noop: 20_000 },
} as const;

export const REAL_WORK_SECTIONS = ["email", "webhook", "noop-peers"] as const;
export type RealWorkSection = (typeof REAL_WORK_SECTIONS)[number];
type Kind = "email" | "webhook" | "noop";
const kindOf = (section: RealWorkSection): Kind => (section === "noop-peers" ? "noop" : section);

export interface RealWorkContext {
  /** The bench's Postgres server (a URL of its maintenance database). */
  serverUrl: string;
  dataDir: string;
  size: keyof typeof REAL_WORK_SIZES;
  /** The bench's rows: each push prints a "measured:" line. */
  rows: [string, string, string, string][];
  /** Bucket overrides for one user enqueueing `counts` at once (bench/index.ts), said on stdout. */
  raisedLimits: (section: string, counts: { jobs: number; emails: number }) => Record<string, string>;
  /** BENCH_STATEMENTS: the server preloads pg_stat_statements; each run of ours reports its statements per job. */
  statements?: boolean;
  /** BENCH_DASHBOARD: one jobs.events SSE stream open on ours for the whole run. */
  dashboard?: boolean;
}

interface RunResult {
  system: string;
  peer: boolean;
  jobs: number;
  seconds: number;
  /** From the first enqueue until the last enqueue call returned. */
  feedSeconds: number;
  rate: number;
  cpuMsPerJob: number;
  processCpuMsPerJob: number;
  storeCpuMsPerJob: number;
  /** This process's CPU per job (the SMTP server or webhook receiver, the polling): not the system's. */
  benchCpuMsPerJob: number;
  /** The machine's busy CPU outside the system and this process, as a share of all cores: interference. */
  otherBusyShare: number;
  /** False when the store's processes are not on this machine (their CPU is then not counted). */
  storeCpuCounted: boolean;
  walBytesPerJob?: number;
  commitsPerJob?: number;
  /** Database size growth (Postgres) or used_memory growth (Redis) per job, bytes. */
  storedBytesPerJob?: number;
  keeps: string;
  /** BENCH_STATEMENTS: the system's statements over the run (pg_stat_statements, its database only). */
  statements?: StatementRow[];
  /** BENCH_DASHBOARD: what the dashboard-like stream received. */
  dashboard?: DashboardCount;
}

/** One normalised statement of pg_stat_statements, totals over the run. */
interface StatementRow {
  issuer: string;
  query: string;
  /** False: run inside a function (its time and WAL are also in its caller's). */
  toplevel: boolean;
  calls: number;
  rows: number;
  execMs: number;
  planMs: number;
  walBytes: number;
}

interface DashboardCount {
  /** Job events received (not the connected message or pings). */
  events: number;
  /** By kind and status, "transition pending" or "progress running". */
  byKind: Record<string, number>;
}

// ---------------------------------------------------------------------------
// The bench's SMTP server and webhook receiver: answer at once, count by id.

interface Sink {
  url: string;
  /** Distinct ids received since the last reset. */
  count: number;
  duplicates: number;
  reset: () => void;
  close: () => Promise<void>;
}

function counter() {
  const seen = new Set<string>();
  const state = {
    count: 0,
    duplicates: 0,
    record(id: string | undefined) {
      if (!id) return;
      if (seen.has(id)) state.duplicates += 1;
      else {
        seen.add(id);
        state.count += 1;
      }
    },
    reset() {
      seen.clear();
      state.count = 0;
      state.duplicates = 0;
    },
  };
  return state;
}

/** Servers whose connections are greeted at once (see greetAtOnce). */
const greetingAtOnce = new WeakSet<object>();
let greetingPatched: boolean | undefined;

/**
 * smtp-server holds every connection's 220 greeting back 100 ms to catch
 * clients that talk first (SMTPConnection.init, a fixed setTimeout; no option
 * turns it off, 3.21.6). A non-pooled sender, as server/email/transport.ts and
 * the peers use, opens a connection per message, so that delay alone would cap
 * 10 concurrent senders near 90 emails/s whatever the queue. The bench's server
 * greets its connections at once: their init goes straight to connectionReady
 * (what the timer calls). Returns false when smtp-server's internals moved.
 */
function greetAtOnce(server: SMTPServer): boolean {
  type Connection = { _server: object; _setListeners(ready: () => void): void; connectionReady(): void; init(): void };
  const proto = SMTPConnection.prototype as unknown as Connection;
  if (greetingPatched === undefined) {
    greetingPatched = typeof proto._setListeners === "function" && typeof proto.connectionReady === "function";
    if (greetingPatched) {
      const init = proto.init;
      proto.init = function (this: Connection) {
        if (!greetingAtOnce.has(this._server)) return init.call(this);
        this._setListeners(() => this.connectionReady());
      };
    }
  }
  if (greetingPatched) greetingAtOnce.add(server);
  return greetingPatched;
}

async function startSmtpSink(): Promise<Sink> {
  const ids = counter();
  const server = new SMTPServer({
    authOptional: true,
    // No TLS upgrade and no AUTH: nodemailer would otherwise STARTTLS every message.
    disabledCommands: ["STARTTLS", "AUTH"],
    disableReverseLookup: true,
    logger: false,
    onData(stream, _session, callback) {
      let head = "";
      stream.setEncoding("utf8");
      stream.on("data", (chunk: string) => {
        if (head.length < 65_536 && !head.includes("\r\n\r\n")) head += chunk;
      });
      stream.on("error", (error) => callback(error));
      stream.on("end", () => {
        const headers = head.split("\r\n\r\n")[0] ?? "";
        ids.record(/^message-id:[ \t]*(\S+)/im.exec(headers)?.[1]);
        callback();
      });
    },
  });
  server.on("error", () => {}); // a sender killed mid-message resets its socket
  if (!greetAtOnce(server)) {
    process.stdout.write("bench: smtp-server's greeting delay could not be removed: emails are capped near 90/s\n");
  }
  const port = await new Promise<number>((resolve, reject) => {
    server.server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  return {
    url: `smtp://127.0.0.1:${port}`,
    get count() {
      return ids.count;
    },
    get duplicates() {
      return ids.duplicates;
    },
    reset: ids.reset,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function startWebhookSink(): Promise<Sink> {
  const ids = counter();
  const server = http.createServer((request, response) => {
    const id = request.headers["webhook-id"];
    request.resume();
    request.on("end", () => {
      ids.record(typeof id === "string" ? id : undefined);
      response.writeHead(200, { "content-type": "text/plain", "content-length": "2" });
      response.end("ok");
    });
  });
  const port = await new Promise<number>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    });
  });
  return {
    url: `http://127.0.0.1:${port}/hooks/bench`,
    get count() {
      return ids.count;
    },
    get duplicates() {
      return ids.duplicates;
    },
    reset: ids.reset,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------
// CPU from /proc.

/** The fields of /proc/<pid>/stat after the command name (field 3 onwards), or undefined once it is gone. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * utime + stime of a process, in ticks; every thread counts. Not its reaped
 * children's: the meter reads those itself while they live.
 */
function cpuTicks(pid: number): number | undefined {
  const fields = procStat(pid);
  if (!fields) return undefined;
  return Number(fields[11]) + Number(fields[12]);
}

/** `roots` and every process below them (a tsx-loaded process may run esbuild beside it). */
function withDescendants(roots: number[]): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const ppid = Number(procStat(Number(entry))?.[1]);
    if (!ppid) continue;
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const all = [...roots];
  for (let i = 0; i < all.length; i++) all.push(...(children.get(all[i] as number) ?? []));
  return all;
}

/**
 * Sums the CPU a system uses between start() and stop(): its own processes,
 * and its store's (redis-server, or every backend of its database, listed from
 * pg_stat_activity). A backend's counters go with it when it exits, so the
 * meter samples every 250 ms and keeps each process's last reading; one that
 * appears after start() counts from zero.
 */
class CpuMeter {
  private readonly seen = new Map<number, { store: boolean; first: number; last: number }>();
  private timer: NodeJS.Timeout | undefined;
  private sampling: Promise<void> = Promise.resolve();
  private storeListed = 0;
  private storeRead = 0;

  constructor(
    private readonly processRoots: () => number[],
    private readonly storePids: () => Promise<number[]>,
  ) {}

  private async sample(initial: boolean, tree: boolean): Promise<void> {
    const processes = tree ? withDescendants(this.processRoots()) : this.processRoots();
    const store = await this.storePids();
    for (const [pids, isStore] of [
      [processes, false],
      [store, true],
    ] as const) {
      for (const pid of pids) {
        const ticks = cpuTicks(pid);
        if (isStore) {
          this.storeListed += 1;
          if (ticks !== undefined) this.storeRead += 1;
        }
        if (ticks === undefined) continue;
        const entry = this.seen.get(pid);
        if (entry) entry.last = Math.max(entry.last, ticks);
        else this.seen.set(pid, { store: isStore, first: initial ? ticks : 0, last: ticks });
      }
    }
  }

  async start(): Promise<void> {
    await this.sample(true, true);
    this.timer = setInterval(() => {
      this.sampling = this.sampling.then(() => this.sample(false, false)).catch(() => {});
    }, 250);
  }

  async stop(): Promise<{ processMs: number; storeMs: number; storeCounted: boolean }> {
    clearInterval(this.timer);
    await this.sampling;
    await this.sample(false, true);
    let processMs = 0;
    let storeMs = 0;
    for (const entry of this.seen.values()) {
      const ms = (entry.last - entry.first) * TICK_MS;
      if (entry.store) storeMs += ms;
      else processMs += ms;
    }
    return { processMs, storeMs, storeCounted: this.storeListed === 0 || this.storeRead > 0 };
  }
}

/** The whole machine's busy CPU so far, ms (/proc/stat's first line). */
function machineBusyMs(): number {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return (user + nice + system + irq + softirq + steal) * TICK_MS;
}

// ---------------------------------------------------------------------------
// Child processes: every one is killed when the bench exits, whatever happens.

const children = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

class Proc {
  exitReason: string | undefined;
  jobError: string | undefined;
  private readonly tail: string[] = [];
  private readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    children.add(child);
    child.stderr?.setEncoding("utf8");
    child.stderr?.on("data", (text: string) => {
      this.tail.push(...text.split("\n").filter(Boolean));
      this.tail.splice(0, Math.max(0, this.tail.length - 15));
    });
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        children.delete(child);
        this.exitReason = `${name} exited (${signal ?? `code ${code}`})${this.stderrTail()}`;
        resolve();
      });
    });
    child.on("message", (message: { type?: string; message?: string }) => {
      if (message.type === "job-error") this.jobError ??= message.message;
    });
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  stderrTail(): string {
    // The message, not the stack under it.
    const lines = this.tail.filter((line) => !/^\s+at |^Node\.js v/.test(line));
    return lines.length ? `; stderr: ${lines.slice(-5).join(" | ").slice(0, 600)}` : "";
  }

  /** The next IPC message of `type`; rejects on a `failed` report, an exit, or after `timeoutMs`. */
  next<T extends Record<string, unknown>>(type: string, timeoutMs = 60_000): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => finish(() => reject(new Error(`${this.name}: no "${type}" in ${timeoutMs} ms`))),
        timeoutMs,
      );
      const onMessage = (message: { type?: string; message?: string }) => {
        if (message.type === type) finish(() => resolve(message as T));
        else if (message.type === "failed") finish(() => reject(new Error(message.message)));
      };
      const onExit = () => finish(() => reject(new Error(this.exitReason ?? `${this.name} exited`)));
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.child.off("message", onMessage);
        this.child.off("exit", onExit);
        settle();
      };
      this.child.on("message", onMessage);
      this.child.once("exit", onExit);
    });
  }

  /** Asks it to stop (a `stop` message, or SIGTERM), then kills it after `graceMs`. */
  async stop(graceMs = 15_000): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    if (this.child.connected) this.child.send({ type: "stop" });
    else this.child.kill("SIGTERM");
    const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  kill(): void {
    this.child.kill("SIGKILL");
  }
}

// ---------------------------------------------------------------------------
// Systems.

interface Progress {
  /** Jobs enqueued and not yet recorded done. */
  remaining: number;
  /** Jobs recorded done (succeeded, completed, or deleted by graphile-worker). */
  done: number;
  failed: number;
  /** An error recorded on a failed or retrying job, for the failure message. */
  failure?: string | null;
  storedBytes?: number;
}

interface Started {
  /** The system's own processes (the meter adds their descendants). */
  pids: number[];
  redisPid?: number;
  feed: (count: number) => Promise<void>;
  progress: (final?: boolean) => Promise<Progress>;
  /** Why it cannot finish: a process exited or a job threw. */
  broken: () => string | undefined;
  keeps: () => Promise<string>;
  /** BENCH_DASHBOARD (ours): what its stream received so far. */
  dashboard?: () => DashboardCount;
  stop: () => Promise<void>;
  kill: () => void;
}

interface SystemContext {
  kind: Kind;
  jobs: number;
  /** The system's database, and the bench's connection to it (Postgres systems). */
  databaseUrl: string;
  poller: Poller | undefined;
  smtp: Sink;
  webhooks: Sink;
  webhookSecret: string;
  redisPrefix: string;
  /** Open one jobs.events stream for the whole run (ours). */
  dashboard: boolean;
}

interface System {
  name: string;
  peer: boolean;
  store: "postgres" | "redis";
  kinds: Kind[];
  start: (context: SystemContext) => Promise<Started>;
}

/**
 * The bench's own connection to a system's database: its backend's CPU and
 * its commits are counted out. reconnect() before the measured window: the
 * setup's connection reports its commits as it exits, and the new one reports
 * its first query's at once (a backend's first report is not held back), so
 * every later query is inside the window, and `queries` counts them.
 */
class Poller {
  queries = 0;
  pid = 0;
  private client: pg.Client | undefined;

  constructor(private readonly url: string) {}

  async connect(): Promise<void> {
    const client = new pg.Client({ connectionString: this.url });
    client.on("error", () => {});
    await client.connect();
    this.client = client;
    this.pid = Number((await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]?.pid);
    this.queries = 0;
  }

  /** Closes the connection and waits until its backend has left (so has reported its counts). */
  async close(admin: pg.Client): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (!client) return;
    await client.end().catch(() => {});
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; ) {
      const { rowCount } = await admin.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [this.pid]);
      if (!rowCount) break;
      await sleep(10);
    }
  }

  async reconnect(admin: pg.Client): Promise<void> {
    await this.close(admin);
    await this.connect();
  }

  async query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
    if (!this.client) throw new Error("the bench's connection to the database is closed");
    this.queries += 1;
    return (await this.client.query<T>(sql, params)).rows;
  }
}

function requirePoller(context: SystemContext): Poller {
  if (!context.poller) throw new Error("a Postgres system needs the bench's connection to its database");
  return context.poller;
}

/** Starts a peer's worker script (bench/peers/) in its own process and waits until it is ready. */
async function startPeer(name: string, script: string, args: string[], env: Record<string, string>) {
  const child = fork(path.join(PEERS, script), args, {
    cwd: ROOT,
    execArgv: ["--import", "tsx"],
    env: { ...process.env, BENCH_CONCURRENCY: String(CONCURRENCY), BENCH_FEED_BATCH: String(FEED_BATCH), ...env },
    stdio: ["ignore", "ignore", "pipe", "ipc"],
  });
  const proc = new Proc(name, child);
  try {
    const ready = await proc.next<{ redisPid?: number }>("ready", 120_000);
    return { proc, ready };
  } catch (error) {
    proc.kill();
    throw error;
  }
}

function peerEnv(context: SystemContext): Record<string, string> {
  return {
    BENCH_KIND: context.kind,
    BENCH_JOBS: String(context.jobs),
    BENCH_SMTP_URL: context.smtp.url,
    BENCH_WEBHOOK_URL: context.webhooks.url,
    BENCH_WEBHOOK_SECRET: context.webhookSecret,
  };
}

function peerStarted(proc: Proc, progress: Started["progress"], keeps: string, redisPid?: number): Started {
  return {
    pids: [proc.pid],
    ...(redisPid ? { redisPid } : {}),
    feed: async (count) => {
      const fed = proc.next("fed", 600_000);
      proc.child.send({ type: "feed", count });
      await fed;
    },
    progress,
    broken: () => proc.exitReason ?? (proc.jobError ? `a job or the worker failed: ${proc.jobError}` : undefined),
    keeps: async () => keeps,
    stop: () => proc.stop(),
    kill: () => proc.kill(),
  };
}

const pgBoss = (version: "12" | "10"): System => ({
  name: `pg-boss ${version}`,
  peer: true,
  store: "postgres",
  kinds: ["email", "webhook", "noop"],
  async start(context) {
    const poller = requirePoller(context);
    const { proc } = await startPeer(`pg-boss ${version}`, "pgboss-worker.mjs", [version], {
      ...peerEnv(context),
      DATABASE_URL: context.databaseUrl,
    });
    const progress = async (): Promise<Progress> => {
      const [row] = await poller.query<Progress>(
        `SELECT count(*) FILTER (WHERE state IN ('created', 'retry', 'active'))::int AS remaining,
                count(*) FILTER (WHERE state = 'completed')::int AS done,
                count(*) FILTER (WHERE state = 'failed')::int AS failed,
                (SELECT output::text FROM pgboss.job
                  WHERE name = 'bench' AND state IN ('failed', 'retry') AND output IS NOT NULL LIMIT 1) AS failure
           FROM pgboss.job WHERE name = 'bench'`,
      );
      return row as Progress;
    };
    const keeps =
      version === "12"
        ? "a pgboss.job row (completed), deleted after 7 days (the queue's deleteAfterSeconds)"
        : "a pgboss.job row (completed), moved to pgboss.archive after 12 h, deleted 7 days later";
    return peerStarted(proc, progress, keeps);
  },
});

const graphileWorker = (mode: "defaults" | "batched"): System => ({
  name: mode === "defaults" ? "graphile-worker" : "graphile-worker, batched",
  peer: true,
  store: "postgres",
  kinds: mode === "defaults" ? ["email", "webhook", "noop"] : ["noop"],
  async start(context) {
    const poller = requirePoller(context);
    const { proc } = await startPeer(`graphile-worker (${mode})`, "graphile-worker.mjs", [mode], {
      ...peerEnv(context),
      DATABASE_URL: context.databaseUrl,
    });
    let fed = false;
    const started = peerStarted(
      proc,
      async () => {
        const [row] = await poller.query<{ remaining: number; failed: number; failure: string | null }>(
          `SELECT count(*)::int AS remaining,
                  count(*) FILTER (WHERE attempts >= max_attempts)::int AS failed,
                  max(last_error) AS failure
             FROM graphile_worker._private_jobs`,
        );
        const { remaining = 0, failed = 0, failure = null } = row ?? {};
        // A job that succeeds is deleted: done is what was fed and is gone.
        return { remaining, failed, failure, done: fed ? context.jobs - remaining : 0 };
      },
      "nothing: the job's row is deleted when it succeeds",
    );
    const feed = started.feed;
    started.feed = async (count) => {
      await feed(count);
      fed = true;
    };
    return started;
  },
});

const bullmq: System = {
  name: "BullMQ",
  peer: true,
  store: "redis",
  kinds: ["email", "webhook", "noop"],
  async start(context) {
    const { proc, ready } = await startPeer("BullMQ", "bullmq-worker.mjs", [], {
      ...peerEnv(context),
      BENCH_PREFIX: context.redisPrefix,
    });
    const progress = async (final = false): Promise<Progress> => {
      const reply = proc.next<{ remaining: number; completed: number; failed: number; storedBytes?: number }>("counts");
      proc.child.send({ type: "counts", final });
      const counts = await reply;
      return {
        remaining: counts.remaining,
        done: counts.completed,
        failed: counts.failed,
        ...(counts.storedBytes === undefined ? {} : { storedBytes: counts.storedBytes }),
      };
    };
    return peerStarted(
      proc,
      progress,
      "a hash per completed job and its id in the completed set, in Redis until removed (no removeOnComplete)",
      ready.redisPid,
    );
  },
};

interface OursOptions {
  dataDir: string;
  raisedLimits: RealWorkContext["raisedLimits"];
}

/** A port nothing listens on now. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The last lines of a log file, for a failure message. */
function logTail(file: string): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-3).join(" | ").slice(-800);
  } catch {
    return "(none)";
  }
}

/** A tRPC mutation over plain HTTP, in the wire format the README's shell section shows. */
function mutation(agent: http.Agent, baseUrl: string, token: string, procedure: string, input: unknown) {
  const body = JSON.stringify(transformer.serialize(input));
  return new Promise<unknown>((resolve, reject) => {
    const request = http.request(
      new URL(`/trpc/${procedure}`, baseUrl),
      {
        method: "POST",
        agent,
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          authorization: `Bearer ${token}`,
        },
      },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => {
          text += chunk;
        });
        response.on("end", () => {
          if (response.statusCode !== 200) {
            reject(new Error(`${procedure} answered ${response.statusCode}: ${text.slice(0, 300)}`));
            return;
          }
          try {
            resolve(transformer.deserialize((JSON.parse(text) as { result: { data: never } }).result.data));
          } catch (error) {
            reject(error);
          }
        });
      },
    );
    request.on("error", reject);
    request.end(body);
  });
}

/**
 * BENCH_DASHBOARD: a jobs.events SSE stream as the dashboard holds one (the
 * wire format EventSource reads; see bench/fanout-clients.ts), open until
 * closed. Resolves once the server has said it is connected; counts the job
 * events it receives by kind and status.
 */
function openDashboardStream(
  baseUrl: string,
  token: string,
): Promise<{ count: () => DashboardCount; close: () => void }> {
  const url = new URL("/trpc/jobs.events", baseUrl);
  url.searchParams.set("input", JSON.stringify({ json: {} }));
  const counted: DashboardCount = { events: 0, byKind: {} };
  let connected = false;
  return new Promise((resolve, reject) => {
    const request = http.get(
      url,
      { headers: { accept: "text/event-stream", authorization: `Bearer ${token}` } },
      (response) => {
        if (response.statusCode !== 200) {
          reject(new Error(`the dashboard stream was refused: ${response.statusCode}`));
          response.resume();
          return;
        }
        response.setEncoding("utf8");
        let pending = "";
        response.on("data", (text: string) => {
          pending += text;
          // Messages end with a blank line; tRPC adds one more "\n", left at the next message's start.
          for (let end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
            const message = pending.slice(0, end).trim();
            pending = pending.slice(end + 2);
            if (message.startsWith("event: connected")) {
              if (!connected) {
                connected = true;
                resolve({ count: () => counted, close: () => request.destroy() });
              }
            } else if (message.startsWith("data: ") && message.includes("\nid: ")) {
              counted.events += 1;
              const kind = /"kind":"(\w+)"/.exec(message)?.[1] ?? "?";
              const status = /"status":"(\w+)"/.exec(message)?.[1] ?? "?";
              const key = `${kind} ${status}`;
              counted.byKind[key] = (counted.byKind[key] ?? 0) + 1;
            }
          }
        });
        response.on("error", () => {});
      },
    );
    request.on("error", reject);
    request.setTimeout(30_000, () => {
      if (!connected) request.destroy(new Error("the dashboard stream did not connect in 30 s"));
    });
  });
}

const ours = (options: OursOptions): System => ({
  name: "Typed Jobs",
  peer: false,
  store: "postgres",
  kinds: ["email", "webhook", "noop"],
  async start(context) {
    const poller = requirePoller(context);
    const emails = context.kind === "webhook" ? 0 : context.jobs;
    const limits = options.raisedLimits(`${context.kind} (real work)`, { jobs: context.jobs, emails });
    // Its logs go to a file, as `npm start > app.log` would write them: a pipe to this process could fill while
    // it is busy, and pino's synchronous writes would then stall the app (sonic-boom waits 100 ms and retries).
    const logPath = path.join(options.dataDir, `typed-jobs-${context.kind}-${randomBytes(3).toString("hex")}.log`);
    const log = openSync(logPath, "w");
    const port = await freePort();
    const baseUrl = `http://127.0.0.1:${port}`;
    const child = spawn(
      process.execPath,
      [
        "--max-semi-space-size=4",
        // BENCH_PROFILE_DIR=<dir>: a V8 CPU profile of our process, written there when it exits.
        ...(process.env.BENCH_PROFILE_DIR ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : []),
        "--import",
        "tsx",
        context.kind === "noop" ? "bench/ours-noop-main.ts" : "server/main.ts",
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          NODE_ENV: "production",
          DATABASE_URL: context.databaseUrl,
          HOST: "127.0.0.1",
          PORT: String(port),
          WORKER: "on",
          WORKER_CONCURRENCY: String(CONCURRENCY),
          SMTP_URL: context.smtp.url,
          WEBHOOK_ALLOW_LOOPBACK: "true",
          DATA_DIR: options.dataDir,
          ...limits,
        },
        stdio: ["ignore", log, "pipe"],
      },
    );
    closeSync(log);
    const proc = new Proc("Typed Jobs", child);
    try {
      // Up once /healthz answers (it listens after migrating and starting its worker).
      for (const deadline = Date.now() + 120_000; ; ) {
        if (proc.exitReason) throw new Error(`${proc.exitReason}; log: ${logTail(logPath)}`);
        if (Date.now() > deadline) throw new Error(`Typed Jobs did not answer in 120 s; log: ${logTail(logPath)}`);
        if ((await fetch(`${baseUrl}/healthz`).catch(() => undefined))?.ok) break;
        await sleep(100);
      }

      // One API user with a token, made as `npm run token` makes it (server/auth/tokens.ts), in SQL.
      const token = `tj_${randomBytes(32).toString("base64url")}`;
      await poller.query(
        `WITH u AS (INSERT INTO users (id, email) VALUES (gen_random_uuid(), 'bench@example.com') RETURNING id)
         INSERT INTO api_tokens (id, user_id, token_hash) SELECT gen_random_uuid(), id, $1 FROM u`,
        [hashToken(token)],
      );
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      let payload: (i: number) => unknown = () => ({ to: "bench@example.com", subject: "Bench", body: "b" });
      if (context.kind === "webhook") {
        const endpoint = (await mutation(agent, baseUrl, token, "webhooks.createEndpoint", {
          url: context.webhooks.url,
        })) as { id: string };
        payload = (i) => ({ endpointId: endpoint.id, event: "bench.ping", data: { i } });
      }
      const type = context.kind === "webhook" ? "webhook" : "email";
      const dashboard = context.dashboard ? await openDashboardStream(baseUrl, token) : undefined;
      return {
        pids: [proc.pid],
        ...(dashboard ? { dashboard: dashboard.count } : {}),
        async feed(count) {
          for (let done = 0; done < count; done += FEED_BATCH) {
            const n = Math.min(FEED_BATCH, count - done);
            const jobs = Array.from({ length: n }, (_, i) => ({ type, payload: payload(done + i) }));
            await mutation(agent, baseUrl, token, "jobs.enqueueMany", { jobs });
          }
        },
        async progress() {
          const [row] = await poller.query<Progress>(
            `SELECT count(*) FILTER (WHERE status IN ('pending', 'running', 'retrying'))::int AS remaining,
                    count(*) FILTER (WHERE status = 'succeeded')::int AS done,
                    count(*) FILTER (WHERE status = 'failed')::int AS failed,
                    (SELECT error FROM jobs WHERE status IN ('failed', 'retrying') AND error IS NOT NULL LIMIT 1) AS failure
               FROM jobs`,
          );
          return row as Progress;
        },
        broken: () => (proc.exitReason ? `${proc.exitReason}; log: ${logTail(logPath)}` : undefined),
        async keeps() {
          // Counted, not assumed (the schema moves): the rows per job of every table that holds one per job or more.
          const tables = await poller.query<{ name: string }>(
            `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
              WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname`,
          );
          const kept: string[] = [];
          for (const { name } of tables) {
            const [row] = await poller.query<{ n: number }>(
              `SELECT count(*)::int AS n FROM "${name.replaceAll('"', '""')}"`,
            );
            const perJob = (row?.n ?? 0) / context.jobs;
            if (perJob >= 0.5) kept.push(`${Number.isInteger(perJob) ? perJob : perJob.toFixed(1)} ${name}`);
          }
          return `rows: ${kept.join(", ")}; finished jobs kept JOB_RETENTION_DAYS (30)`;
        },
        stop: () => {
          dashboard?.close();
          return proc.stop();
        },
        kill: () => {
          dashboard?.close();
          proc.kill();
        },
      };
    } catch (error) {
      proc.kill();
      throw error;
    }
  },
});

// ---------------------------------------------------------------------------
// One measured run.

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function backendPids(admin: pg.Client, database: string, except: number[]): Promise<number[]> {
  const { rows } = await admin.query<{ pid: number }>(
    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND NOT (pid = ANY($2::int[]))",
    [database, except],
  );
  return rows.map((row) => row.pid);
}

/** Commits recorded for `database` (pg_stat_database), read afresh. */
async function commits(admin: pg.Client, database: string): Promise<number> {
  await admin.query("SELECT pg_stat_clear_snapshot()");
  const { rows } = await admin.query<{ n: string }>(
    "SELECT xact_commit::text AS n FROM pg_stat_database WHERE datname = $1",
    [database],
  );
  return Number(rows[0]?.n ?? 0);
}

async function databaseSize(admin: pg.Client, database: string): Promise<number> {
  const { rows } = await admin.query<{ n: string }>("SELECT pg_database_size($1)::text AS n", [database]);
  return Number(rows[0]?.n ?? 0);
}

interface RunEnvironment {
  serverUrl: string;
  admin: pg.Client;
  smtp: Sink;
  webhooks: Sink;
  redisPrefix: string;
  statements: boolean;
  dashboard: boolean;
}

/**
 * With pg_stat_statements on, the bench's own connection to the database logs
 * in as this role, so that its statements are told apart (pg_stat_statements
 * drops comments, not the user).
 */
const BENCH_ROLE = "typed_jobs_bench";

async function benchRoleUrl(admin: pg.Client, url: string): Promise<string> {
  await admin.query(
    `DO $$ BEGIN
       IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${BENCH_ROLE}') THEN
         CREATE ROLE ${BENCH_ROLE} LOGIN SUPERUSER PASSWORD '${BENCH_ROLE}';
       END IF;
     END $$`,
  );
  const withRole = new URL(url);
  withRole.username = BENCH_ROLE;
  withRole.password = BENCH_ROLE;
  return withRole.toString();
}

/**
 * Who issues a statement, from its text: ours (by file), graphile-worker, the
 * bench's own. A statement run inside a function (pg_stat_statements.track =
 * all) is marked nested: its time and WAL are in its caller's too.
 */
const ISSUERS: [RegExp, string][] = [
  [/^ANALYZE|relpages/i, "plan refresh (plan-refresh.ts)"],
  [/^WITH s AS \( UPDATE jobs SET status/, "lifecycle batch (batched-writes.ts)"],
  [/jsonb_to_recordset/, "enqueue (enqueue.ts)"],
  [/take_rate_tokens|rate_buckets/, "rate buckets (buckets.ts)"],
  // Postgres 18 keeps the foreign key checks on jobs and on users as one entry (its text names the first seen).
  [/FOR KEY SHARE OF x/, "foreign key checks (events, receipt -> jobs; jobs -> users)"],
  [/random\(\)::text/, "graphile-worker (add_jobs' NOTIFY)"],
  [/^SELECT set_config\(\$1, \$2, \$3\)$/, "rate buckets (buckets.ts)"],
  [/pg_notify/, "doorbell (doorbell.ts)"],
  [/job_events/, "event hub (event-log.ts)"],
  [/pg_snapshot_xmin/, "event hub (event-log.ts)"],
  [/api_tokens|"users"/, "auth (Prisma)"],
  [/worker_processes/, "heartbeat (heartbeat.ts)"],
  [/graphile_worker/i, "graphile-worker"],
  [/^LISTEN/i, "LISTEN (hub, cancellations, graphile)"],
  [/^(BEGIN|COMMIT|ROLLBACK)/i, "transaction control"],
];

function issuerOf(query: string, toplevel: boolean): string {
  const issuer = ISSUERS.find(([pattern]) => pattern.test(query))?.[1] ?? "other";
  return toplevel ? issuer : `nested: ${issuer}`;
}

/**
 * The statements of `database` (by oid) in pg_stat_statements since its
 * reset, read on the bench's connection; the bench's own are marked.
 */
async function readStatements(poller: Poller, dbid: number): Promise<StatementRow[]> {
  const rows = await poller.query<{
    bench: boolean;
    query: string;
    toplevel: boolean;
    calls: string;
    rows: string;
    exec: number;
    plan: number;
    wal: string;
  }>(
    `SELECT userid = '${BENCH_ROLE}'::regrole AS bench, query, toplevel, calls::text AS calls, rows::text AS rows, total_exec_time AS exec,
            total_plan_time AS plan, wal_bytes::text AS wal
       FROM pg_stat_statements WHERE dbid = $1`,
    [dbid],
  );
  return rows
    .map((row) => ({
      issuer: row.bench ? "the bench" : issuerOf(row.query.replace(/\s+/g, " ").trim(), row.toplevel),
      query: row.query.replace(/\s+/g, " ").trim(),
      toplevel: row.toplevel,
      calls: Number(row.calls),
      rows: Number(row.rows),
      execMs: row.exec,
      planMs: row.plan,
      walBytes: Number(row.wal),
    }))
    .sort((a, b) => b.execMs - a.execMs);
}

/** Waits until a dashboard stream's count has not moved for `quietMs` (the hub delivers the last events late). */
async function settledCount(count: () => DashboardCount, quietMs = 300, maxMs = 3_000): Promise<DashboardCount> {
  let last = count().events;
  for (let since = Date.now(), start = Date.now(); Date.now() - start < maxMs; ) {
    await sleep(50);
    const now = count().events;
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) break;
  }
  return structuredClone(count());
}

async function runSystem(system: System, kind: Kind, jobs: number, environment: RunEnvironment): Promise<RunResult> {
  const { admin, serverUrl } = environment;
  const database = system.store === "postgres" ? `bench_rw_${randomBytes(5).toString("hex")}` : undefined;
  // BENCH_STATEMENTS: ours only (the peers' own statements are theirs to tune).
  const statements = environment.statements && !system.peer && database !== undefined;
  let started: Started | undefined;
  let poller: Poller | undefined;
  try {
    const url = database ? databaseUrl(serverUrl, database) : "";
    let dbid = 0;
    if (database) {
      await admin.query(`CREATE DATABASE "${database}"`);
      poller = new Poller(statements ? await benchRoleUrl(admin, url) : url);
      await poller.connect();
      if (statements) {
        await poller.query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements");
        const [row] = await poller.query<{ oid: number }>(
          "SELECT oid::int AS oid FROM pg_database WHERE datname = current_database()",
        );
        dbid = row?.oid ?? 0;
      }
    }
    const context: SystemContext = {
      kind,
      jobs,
      databaseUrl: url,
      poller,
      smtp: environment.smtp,
      webhooks: environment.webhooks,
      webhookSecret: newSecret(),
      redisPrefix: environment.redisPrefix,
      dashboard: environment.dashboard,
    };
    started = await system.start(context);
    const running = started;
    // Every run starts at a checkpoint, so each pays the same full-page images; the startup's writes are flushed.
    if (database) await admin.query("CHECKPOINT").catch(() => {});
    await poller?.reconnect(admin);
    const except = poller ? [poller.pid] : [];
    const meter = new CpuMeter(
      () => running.pids,
      async () => [
        ...(running.redisPid ? [running.redisPid] : []),
        ...(database ? await backendPids(admin, database, except) : []),
      ],
    );
    // Start readings. Commits: a backend reports its counts at most once a second, and one that went idle right
    // after reporting holds the rest until it has idled 10 s or does more work, so the startup's last commits
    // can land in this run's count (a handful, against thousands of jobs). The end is read once the system's
    // connections are closed, as a backend reports everything when it exits.
    const walBefore = database
      ? (await admin.query<{ lsn: string }>("SELECT pg_current_wal_lsn()::text AS lsn")).rows[0]?.lsn
      : undefined;
    const commitsBefore = database ? await commits(admin, database) : 0;
    const sizeBefore = database ? await databaseSize(admin, database) : 0;
    // This database's statements from here on: the startup's (migrations, the first plans) are not the jobs'.
    if (statements) await poller?.query("SELECT pg_stat_statements_reset(0, $1::oid, 0)", [dbid]);
    environment.smtp.reset();
    environment.webhooks.reset();
    const sink = kind === "email" ? environment.smtp : kind === "webhook" ? environment.webhooks : undefined;
    await meter.start();
    const machineBefore = machineBusyMs();
    const benchBefore = process.cpuUsage();

    const startedAt = performance.now();
    // The clock V8's CPU profiles use (CLOCK_MONOTONIC, µs), for the measured window beside our profile.
    const windowStartUs = process.hrtime.bigint() / 1000n;
    let fed = false;
    let feedSeconds = 0;
    let feedError: unknown;
    const feeding = started.feed(jobs).then(
      () => {
        fed = true;
        feedSeconds = (performance.now() - startedAt) / 1000;
      },
      (error: unknown) => {
        feedError = error;
      },
    );
    let last: Progress = { remaining: jobs, done: 0, failed: 0 };
    let lastCheck = 0;
    let lastChange = performance.now();
    let lastSeen = "";
    for (;;) {
      if (feedError) throw feedError;
      const broken = started.broken();
      if (broken) throw new Error(broken);
      const arrived = sink ? sink.count >= jobs : true;
      const now = performance.now();
      // The store is asked only when the end may have come, or once a second (failures, progress).
      if ((fed && arrived) || now - lastCheck >= 1_000) {
        lastCheck = now;
        last = await started.progress();
        if (last.failed > 0) throw new Error(`${last.failed} jobs failed: ${last.failure ?? "no error recorded"}`);
        if (fed && arrived && last.remaining === 0) break;
      }
      const seen = `${sink?.count}/${last.remaining}/${last.done}/${fed}`;
      if (seen !== lastSeen) {
        lastSeen = seen;
        lastChange = now;
      } else if (now - lastChange > STALL_MS) {
        throw new Error(
          `no progress in ${STALL_MS / 1000} s: ${last.done} of ${jobs} done, ${last.remaining} left` +
            (sink ? `, ${sink.count} arrived` : "") +
            (last.failure ? `; last error: ${last.failure}` : ""),
        );
      }
      // Poll densely near the end only: the remaining work at the rate so far, halved, between 20 and 500 ms.
      const elapsed = now - startedAt;
      const doneSoFar = sink ? sink.count : last.done;
      const left = sink && !arrived ? jobs - sink.count : last.remaining;
      const eta = doneSoFar > 0 ? (left * elapsed) / doneSoFar : 500;
      await sleep(Math.min(500, Math.max(20, eta / 2)));
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const windowEndUs = process.hrtime.bigint() / 1000n;
    const profileDir = process.env.BENCH_PROFILE_DIR;
    if (profileDir && !system.peer) {
      // Beside the profile our process writes as it exits (CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile):
      // bench/profile-summary.ts takes the feed-to-end window from it, and the job count.
      mkdirSync(profileDir, { recursive: true });
      const window = {
        system: system.name,
        kind,
        jobs,
        pid: running.pids[0],
        startUs: `${windowStartUs}`,
        endUs: `${windowEndUs}`,
      };
      writeFileSync(path.join(profileDir, `window-${running.pids[0]}.json`), JSON.stringify(window));
    }
    const machineMs = machineBusyMs() - machineBefore;
    const benchCpu = process.cpuUsage(benchBefore);
    const benchMs = (benchCpu.user + benchCpu.system) / 1000;
    await feeding;
    const cpu = await meter.stop();
    const walBytes = database
      ? Number(
          (
            await admin.query<{ bytes: string }>(
              "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text AS bytes",
              [walBefore],
            )
          ).rows[0]?.bytes ?? 0,
        )
      : undefined;
    const final = await started.progress(true);
    if (final.done !== jobs) throw new Error(`${final.done} of ${jobs} jobs recorded done at the end`);
    const statementRows = statements && poller ? await readStatements(poller, dbid) : undefined;
    const dashboard = started.dashboard ? await settledCount(started.dashboard) : undefined;
    if (sink && sink.duplicates > 0) process.stdout.write(`bench: ${system.name} delivered ${sink.duplicates} twice\n`);
    const sizeAfter = database ? await databaseSize(admin, database) : 0;
    const keeps = await started.keeps();
    const pollerQueries = poller?.queries ?? 0;

    await started.stop();
    started = undefined;
    let commitsAfter = 0;
    if (database && poller) {
      await poller.close(admin);
      poller = undefined;
      // Every backend of the database reports its counts as it exits.
      for (const deadline = Date.now() + 15_000; Date.now() < deadline; ) {
        if ((await backendPids(admin, database, [])).length === 0) break;
        await sleep(20);
      }
      // The bench's own queries on the database were commits too.
      commitsAfter = (await commits(admin, database)) - pollerQueries;
    }
    const storedBytes = database ? sizeAfter - sizeBefore : final.storedBytes;
    return {
      system: system.name,
      peer: system.peer,
      jobs,
      seconds,
      feedSeconds,
      rate: jobs / seconds,
      cpuMsPerJob: (cpu.processMs + cpu.storeMs) / jobs,
      processCpuMsPerJob: cpu.processMs / jobs,
      storeCpuMsPerJob: cpu.storeMs / jobs,
      storeCpuCounted: cpu.storeCounted,
      benchCpuMsPerJob: benchMs / jobs,
      otherBusyShare: Math.max(0, machineMs - benchMs - cpu.processMs - cpu.storeMs) / (seconds * 1000 * cpus().length),
      ...(walBytes === undefined ? {} : { walBytesPerJob: walBytes / jobs }),
      ...(database ? { commitsPerJob: (commitsAfter - commitsBefore) / jobs } : {}),
      ...(storedBytes === undefined ? {} : { storedBytesPerJob: storedBytes / jobs }),
      keeps,
      ...(statementRows ? { statements: statementRows } : {}),
      ...(dashboard ? { dashboard } : {}),
    };
  } finally {
    if (started) {
      const stopping = started;
      await Promise.race([stopping.stop(), sleep(15_000)]).catch(() => {});
      stopping.kill();
    }
    await poller?.close(admin).catch(() => {});
    if (database) {
      await admin.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`).catch((error: Error) => {
        process.stdout.write(`bench: could not drop database ${database}: ${error.message}\n`);
      });
    }
  }
}

// ---------------------------------------------------------------------------
// Peers' packages, Redis keys, and the sections.

/** Installs bench/peers' packages (npm ci) unless they are there; returns why not when that fails. */
function installPeers(): string | undefined {
  const wanted = ["pg-boss-12", "pg-boss-10", "bullmq", "ioredis"];
  if (wanted.every((name) => existsSync(path.join(PEERS, "node_modules", name, "package.json")))) return undefined;
  process.stdout.write("bench: installing the peers' packages (npm ci --prefix bench/peers)\n");
  const npm = spawnSync("npm", ["ci", "--prefix", PEERS, "--no-audit", "--no-fund"], {
    cwd: ROOT,
    stdio: ["ignore", 2, 2],
    timeout: 600_000,
  });
  return npm.status === 0 ? undefined : `npm ci --prefix bench/peers failed (${npm.error?.message ?? npm.status})`;
}

/** Deletes the run's BullMQ keys (SCAN + UNLINK under its prefix; never FLUSHDB), in a process of its own. */
function deleteRedisKeys(prefix: string): void {
  const cleanup = spawnSync(process.execPath, [path.join(PEERS, "bullmq-worker.mjs"), "--cleanup", prefix], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  if (cleanup.status !== 0) {
    process.stdout.write(`bench: could not delete the Redis keys under ${prefix}: ${cleanup.stderr.slice(-300)}\n`);
  }
}

const fmtRate = (n: number) => `${Math.round(n).toLocaleString("en-US")}/s`;
const fmtMs = (n: number) => `${n.toFixed(n < 10 ? 2 : 1)} ms`;
const fmtBytes = (n: number) =>
  Math.abs(n) >= 1024 ? `${(n / 1024).toFixed(1)} kB` : `${Math.round(n).toLocaleString("en-US")} B`;
const cpuText = (r: RunResult) =>
  `${fmtMs(r.cpuMsPerJob)} (${r.processCpuMsPerJob.toFixed(2)} + ${r.storeCpuCounted ? r.storeCpuMsPerJob.toFixed(2) : "n/a"})`;

/** BENCH_SYSTEMS="typed,bullmq": only the systems whose names contain one of these (while working on one). */
const chosen = (name: string) =>
  !process.env.BENCH_SYSTEMS ||
  process.env.BENCH_SYSTEMS.split(",").some((part) => name.toLowerCase().includes(part.trim().toLowerCase()));

const SECTION_TITLES: Record<Kind, string> = {
  email: "emails end to end (SMTP)",
  webhook: "webhooks end to end (HTTP)",
  noop: "no-op jobs",
};

/**
 * Runs the real-work sections asked for and returns their results (for the
 * bench's JSON) and their tables (printed after the bench's own).
 */
export async function runRealWork(
  context: RealWorkContext,
  sections: RealWorkSection[],
): Promise<{ results: Record<string, unknown>; tables: string[] }> {
  const results: Record<string, unknown> = {};
  const tables: string[] = [];
  const notInstalled = installPeers();
  const systems = [
    ours({ dataDir: context.dataDir, raisedLimits: context.raisedLimits }),
    pgBoss("12"),
    pgBoss("10"),
    bullmq,
    graphileWorker("defaults"),
    graphileWorker("batched"),
  ];
  const admin = new pg.Client({ connectionString: context.serverUrl });
  admin.on("error", () => {});
  await admin.connect();
  const smtp = await startSmtpSink();
  const webhooks = await startWebhookSink();
  const redisPrefix = `typed-jobs-bench-${randomBytes(6).toString("hex")}`;
  let usedRedis = false;
  try {
    const server =
      (await admin.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0]?.v ?? "?";
    for (const section of sections) {
      const kind = kindOf(section);
      const jobs = REAL_WORK_SIZES[context.size][kind];
      const label = `${kind === "noop" ? "no-op" : kind} e2e ${jobs.toLocaleString("en-US")}`;
      const runs: RunResult[] = [];
      const failures: { system: string; reason: string }[] = [];
      for (const system of systems.filter((s) => s.kinds.includes(kind) && chosen(s.name))) {
        if (system.peer && notInstalled) {
          failures.push({ system: system.name, reason: notInstalled });
          context.rows.push([`${label}: ${system.name}: failed: ${notInstalled}`, "", "", ""]);
          continue;
        }
        if (system.store === "redis") usedRedis = true;
        try {
          const run = await runSystem(system, kind, jobs, {
            serverUrl: context.serverUrl,
            admin,
            smtp,
            webhooks,
            redisPrefix: `${redisPrefix}-${kind}`,
            statements: context.statements ?? false,
            dashboard: context.dashboard ?? false,
          });
          runs.push(run);
          context.rows.push([
            `${label}: ${system.name} (jobs/s; CPU ms/job: process + store)`,
            system.peer ? "" : `${fmtRate(run.rate)}, ${cpuText(run)}`,
            system.peer ? `${fmtRate(run.rate)}, ${cpuText(run)}` : "",
            `fed in ${run.feedSeconds.toFixed(2)} s of ${run.seconds.toFixed(2)} s; the bench ${fmtMs(run.benchCpuMsPerJob)}/job; ` +
              `rest of the machine ${Math.round(run.otherBusyShare * 100)}% busy`,
          ]);
        } catch (error) {
          const reason = (error instanceof Error ? error.message : String(error)).replaceAll("\n", " ");
          if (!system.peer) throw new Error(`${label}: Typed Jobs failed: ${reason}`, { cause: error });
          failures.push({ system: system.name, reason });
          context.rows.push([`${label}: ${system.name}: failed: ${reason.slice(0, 400)}`, "", "", ""]);
        }
      }
      const oursRun = runs.find((r) => !r.peer);
      const peers = runs.filter((r) => r.peer);
      const bestRate = Math.max(0, ...peers.map((r) => r.rate));
      const bestCpu = Math.min(...peers.map((r) => r.cpuMsPerJob));
      const best = peers.find((r) => r.rate === bestRate);
      if (oursRun && best) {
        context.rows.push([
          `${label}: Typed Jobs vs the best peer (${best.system})`,
          `${fmtRate(oursRun.rate)}, ${fmtMs(oursRun.cpuMsPerJob)}`,
          `${fmtRate(best.rate)}, ${fmtMs(best.cpuMsPerJob)}`,
          `${(oursRun.rate / best.rate).toFixed(2)}x`,
        ]);
      }
      const goals = oursRun ? goalsFor(kind, oursRun, peers) : [];
      tables.push(
        [
          `Real work: ${jobs.toLocaleString("en-US")} ${SECTION_TITLES[kind]}, concurrency ${CONCURRENCY}, Postgres ${server}`,
          "",
          "| system | jobs/s | CPU ms/job (process + store) | WAL/job | commits/job | growth/job | vs best peer (rate / CPU) | keeps per job |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
          ...runs.map(
            (r) =>
              `| ${r.system} | ${fmtRate(r.rate)} | ${cpuText(r)} | ${r.walBytesPerJob === undefined ? "-" : fmtBytes(r.walBytesPerJob)} | ` +
              `${r.commitsPerJob === undefined ? "-" : r.commitsPerJob.toFixed(2)} | ` +
              `${r.storedBytesPerJob === undefined ? "-" : fmtBytes(r.storedBytesPerJob)} | ` +
              `${bestRate > 0 ? `${(r.rate / bestRate).toFixed(2)}x / ${(r.cpuMsPerJob / bestCpu).toFixed(2)}x` : "-"} | ${r.keeps} |`,
          ),
          ...failures.map(
            (f) => `| ${f.system} | failed: ${f.reason.replaceAll("|", "/").slice(0, 300)} | | | | | | |`,
          ),
          "",
          ...goals.map((g) => `goal: ${g.text}: ${g.met ? "met" : "not met"} (${g.detail})`),
          "",
        ].join("\n"),
      );
      if (oursRun?.dashboard) tables.push(dashboardText(oursRun));
      if (oursRun?.statements) tables.push(statementsTable(oursRun, label));
      results[section] = { jobs, concurrency: CONCURRENCY, postgres: server, runs, failures, goals };
    }
  } finally {
    await smtp.close();
    await webhooks.close();
    await admin.end().catch(() => {});
    if (usedRedis) for (const kind of ["email", "webhook", "noop"]) deleteRedisKeys(`${redisPrefix}-${kind}`);
  }
  return { results, tables };
}

function dashboardText(run: RunResult): string {
  const { events, byKind } = run.dashboard as DashboardCount;
  const kinds = Object.entries(byKind)
    .sort((a, b) => b[1] - a[1])
    .map(([key, n]) => `${key} ${(n / run.jobs).toFixed(2)}`)
    .join(", ");
  return `Dashboard stream (BENCH_DASHBOARD): ${events.toLocaleString("en-US")} events received, ${(events / run.jobs).toFixed(2)} per job (${kinds})\n`;
}

/**
 * BENCH_STATEMENTS: ours' statements per job over the run, by exec time, and
 * per issuer. Top-level statements are the round trips (a BEGIN or COMMIT is
 * one too); nested ones run inside a function, already counted in its caller.
 * WAL is what each statement wrote while it ran (a commit record is not in it).
 */
function statementsTable(run: RunResult, label: string): string {
  const all = run.statements as StatementRow[];
  const ours = all.filter((row) => !row.issuer.startsWith("the bench"));
  const perJob = (n: number) => n / run.jobs;
  const num = (n: number) => (n === 0 ? "0" : n >= 100 ? n.toFixed(0) : n >= 1 ? n.toFixed(2) : n.toPrecision(2));
  const planned = ours.some((row) => row.planMs > 0);
  const top = ours.filter((row) => row.toplevel);
  const sum = (rows: StatementRow[], key: "calls" | "rows" | "execMs" | "planMs" | "walBytes") =>
    rows.reduce((total, row) => total + row[key], 0);
  const line = (issuer: string, query: string, rows: StatementRow[]) =>
    `| ${issuer} | ${query.replaceAll("|", "/")} | ${num(perJob(sum(rows, "calls")))} | ${num(perJob(sum(rows, "rows")))} | ` +
    `${num(perJob(sum(rows, "execMs")))} |${planned ? ` ${num(perJob(sum(rows, "planMs")))} |` : ""} ${num(perJob(sum(rows, "walBytes")))} |`;
  const header = [
    `| issuer | statement | calls/job | rows/job | exec ms/job |${planned ? " plan ms/job |" : ""} WAL B/job |`,
    `| --- | --- | ---: | ---: | ---: |${planned ? " ---: |" : ""} ---: |`,
  ];
  const issuers = [...new Set(top.map((row) => row.issuer))]
    .map((issuer) => ({ issuer, rows: top.filter((row) => row.issuer === issuer) }))
    .sort((a, b) => sum(b.rows, "execMs") - sum(a.rows, "execMs"));
  const bench = all.filter((row) => row.issuer.startsWith("the bench"));
  return [
    `Statements per job, ${label}: Typed Jobs (pg_stat_statements, its database, from the feed's start to the end)`,
    "",
    ...header,
    ...ours.map((row) => line(row.issuer, row.query.slice(0, 80), [row])),
    line("**all top-level (round trips)**", "", top),
    "",
    "By issuer (top-level statements):",
    "",
    ...header,
    ...issuers.map(({ issuer, rows }) => line(issuer, `${rows.length} statements`, rows)),
    "",
    `The bench's own queries on the database (not above): ${sum(bench, "calls")} calls, ${sum(bench, "execMs").toFixed(1)} ms.`,
    "",
  ].join("\n");
}

interface Goal {
  text: string;
  met: boolean;
  detail: string;
}

/** The issue's targets for Typed Jobs, reported (not asserted). A peer that did not run is not a goal. */
function goalsFor(kind: Kind, oursRun: RunResult, peers: RunResult[]): Goal[] {
  const peer = (name: string) => peers.find((r) => r.system === name);
  const against = (names: string[]) =>
    names.flatMap((name) => {
      const run = peer(name);
      return run
        ? [
            {
              text: `rate >= 1.0x ${name}`,
              met: oursRun.rate >= run.rate,
              detail: `${(oursRun.rate / run.rate).toFixed(2)}x`,
            },
          ]
        : [];
    });
  if (kind === "email") {
    return [
      ...against(["pg-boss 12", "BullMQ"]),
      {
        text: "CPU per email job <= 2.5 ms",
        met: oursRun.cpuMsPerJob <= 2.5,
        detail: fmtMs(oursRun.cpuMsPerJob),
      },
    ];
  }
  if (kind === "webhook") return against(["graphile-worker"]);
  return against(["pg-boss 12", "graphile-worker"]);
}
