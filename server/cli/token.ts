/**
 * server/cli/ holds the npm commands other than dev, start and worker: each opens
 * the database, does one thing through the layers below, and exits.
 *
 * This file: `npm run token -- <email> [--admin] [--expires <n>d|<n>h|<n>m]`: creates the
 * user if needed and prints a new token as the last line of standard output
 * (logs go to standard error, and so does which database it used). Without --expires
 * the token never expires. Works beside a running `npm run dev`: it finds the embedded
 * Postgres by DATA_DIR (and starts it for itself when the app is stopped). With no
 * DATABASE_URL and no embedded Postgres initialised in DATA_DIR it exits 1 rather than
 * create an empty one whose users the app would never see.
 */
import fs from "node:fs/promises";
import path from "node:path";
import { z } from "zod";
import { issueToken, parseTokenLifetime } from "../auth/tokens.js";
import { type Config, loadConfig } from "../config.js";
import { openDatabase } from "../db/open.js";
import { createLogger } from "../logger.js";

const USAGE = "usage: npm run token -- <email> [--admin] [--expires <n>d|<n>h|<n>m]\n";

/** The parsed arguments, or undefined when they are not the usage line's. */
function parseArgs(args: string[]): { email: string; admin: boolean; lifetimeMs?: number } | undefined {
  let admin = false;
  let email: string | undefined;
  let lifetimeMs: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === "--admin") admin = true;
    else if (arg === "--expires" || arg.startsWith("--expires=")) {
      const value = arg === "--expires" ? args[++i] : arg.slice("--expires=".length);
      lifetimeMs = value === undefined ? undefined : parseTokenLifetime(value);
      if (lifetimeMs === undefined) return undefined;
    } else if (arg.startsWith("--") || email !== undefined) return undefined;
    else email = arg;
  }
  const parsed = z.email().safeParse(email);
  return parsed.success ? { email: parsed.data, admin, ...(lifetimeMs ? { lifetimeMs } : {}) } : undefined;
}

const options = parseArgs(process.argv.slice(2));
if (!options) {
  process.stderr.write(USAGE);
  process.exit(2);
}
const exists = (file: string) =>
  fs.access(file).then(
    () => true,
    () => false,
  );

/** DATABASE_URL as it may be shown: no password, in the userinfo or in the query. */
function withoutPassword(url: string): string {
  const parsed = new URL(url);
  parsed.password = "";
  parsed.searchParams.delete("password");
  return parsed.toString();
}

/** The stderr line that says which database the token was written to. */
async function describeDatabase(config: Config, url: string): Promise<string> {
  if (config.DATABASE_URL) return `token: using DATABASE_URL ${withoutPassword(url)}`;
  const relative = path.relative(process.cwd(), config.dataDir);
  const shown =
    relative === "" ? "." : relative.startsWith("..") || path.isAbsolute(relative) ? config.dataDir : relative;
  const state = await fs
    .readFile(path.join(config.dataDir, "postgres.json"), "utf8")
    .then((text) => JSON.parse(text) as { pid?: number })
    .catch(() => undefined);
  const started = state?.pid === process.pid ? ", started for this command" : "";
  return `token: using the embedded Postgres in ${shown} (port ${new URL(url).port}${started})`;
}

const config = loadConfig();
// The embedded Postgres lives in DATA_DIR/postgres; its PG_VERSION file marks an initialised one.
if (!config.DATABASE_URL && !(await exists(path.join(config.dataDir, "postgres", "PG_VERSION")))) {
  process.stderr.write("No database here: start `npm run dev` first or set DATABASE_URL\n");
  process.exit(1);
}
const logger = createLogger(config.LOG_LEVEL === "info" ? "warn" : config.LOG_LEVEL, "typed-jobs-token", "stderr");
const database = await openDatabase(config, logger);
try {
  process.stderr.write(`${await describeDatabase(config, database.url)}\n`);
  const expiresAt = options.lifetimeMs ? new Date(Date.now() + options.lifetimeMs) : undefined;
  const token = await issueToken(database.db, options.email, { admin: options.admin, expiresAt });
  if (expiresAt) process.stderr.write(`token expires at ${expiresAt.toISOString()}\n`);
  process.stdout.write(`${token}\n`);
} finally {
  await database.close();
}
