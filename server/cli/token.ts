/**
 * `npm run token -- <email> [--admin]`: creates the user if needed and prints a
 * new token as the last line of standard output (logs go to standard error).
 * Works beside a running `npm run dev`: it finds the embedded Postgres by DATA_DIR.
 */
import { z } from "zod";
import { issueToken } from "../auth/tokens.js";
import { loadConfig } from "../config.js";
import { openDatabase } from "../db/open.js";
import { createLogger } from "../logger.js";

const args = process.argv.slice(2);
const admin = args.includes("--admin");
const email = args.find((a) => !a.startsWith("--"));
const parsed = z.email().safeParse(email);
if (!parsed.success) {
  process.stderr.write("usage: npm run token -- <email> [--admin]\n");
  process.exit(2);
}
const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL === "info" ? "warn" : config.LOG_LEVEL, "typed-jobs-token", "stderr");
const database = await openDatabase(config, logger);
try {
  const token = await issueToken(database.db, parsed.data, { admin });
  process.stdout.write(`${token}\n`);
} finally {
  await database.close();
}
