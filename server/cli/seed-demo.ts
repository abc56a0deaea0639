/**
 * `npm run seed:demo -- --jobs N [--email someone@example.com]`: fills the
 * database with N finished demo jobs (default 10,000) for that user (default
 * the dev demo account), so a large export can be tried.
 */
import { z } from "zod";
import { loadConfig } from "../config.js";
import { openDatabase } from "../db/open.js";
import { seedJobs } from "../lifecycle/seed.js";
import { createLogger } from "../logger.js";

function option(name: string): string | undefined {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? process.argv[index + 1] : undefined;
}

const jobs = z.coerce
  .number()
  .int()
  .min(1)
  .max(50_000_000)
  .safeParse(option("jobs") ?? "10000");
const email = z.email().safeParse(option("email") ?? "demo@typed-jobs.local");
if (!jobs.success || !email.success) {
  process.stderr.write("usage: npm run seed:demo -- --jobs N [--email someone@example.com]\n");
  process.exit(2);
}
const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL, "typed-jobs-seed", "stderr");
const database = await openDatabase(config, logger);
try {
  const user = await database.db.user.upsert({
    where: { email: email.data },
    create: { email: email.data },
    update: {},
  });
  const started = Date.now();
  await seedJobs(database.pool, user.id, jobs.data);
  process.stdout.write(
    `seeded ${jobs.data} jobs for ${email.data} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
} finally {
  await database.close();
}
