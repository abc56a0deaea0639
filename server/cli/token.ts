/**
 * server/cli/ holds the npm commands other than dev, start and worker: each opens
 * the database, does one thing through the layers below, and exits.
 *
 * This file: `npm run token -- <email> [--admin] [--expires <n>d|<n>h|<n>m]`: creates the
 * user if needed and prints a new token as the last line of standard output
 * (logs go to standard error). Without --expires the token never expires.
 * Works beside a running `npm run dev`: it finds the embedded Postgres by DATA_DIR.
 */
import { z } from "zod";
import { issueToken, parseTokenLifetime } from "../auth/tokens.js";
import { loadConfig } from "../config.js";
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
const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL === "info" ? "warn" : config.LOG_LEVEL, "typed-jobs-token", "stderr");
const database = await openDatabase(config, logger);
try {
  const expiresAt = options.lifetimeMs ? new Date(Date.now() + options.lifetimeMs) : undefined;
  const token = await issueToken(database.db, options.email, { admin: options.admin, expiresAt });
  if (expiresAt) process.stderr.write(`token expires at ${expiresAt.toISOString()}\n`);
  process.stdout.write(`${token}\n`);
} finally {
  await database.close();
}
