/**
 * `npx tsx bench/list-burst.ts [--jobs 2000] [--bursts 3] [--worker] [--no-build]`:
 * how long the open Jobs list blocks the browser's main thread while a burst
 * of jobs arrives (issue 17.3). Starts the app (built client, fresh embedded
 * Postgres or BENCH_DATABASE_URL's server; WORKER=off unless --worker, which
 * runs the jobs with an email task that does nothing, so each job also brings
 * its running and succeeded events), signs in in Chromium (CHROMIUM_PATH or
 * the system's), opens the Jobs list, and per burst enqueues --jobs jobs in
 * one jobs.enqueueMany call. Long tasks (over 50 ms) are recorded by a
 * PerformanceObserver injected before the page loads, from the call until the
 * newest job is on top and the page has been quiet for 2 s. Prints, per
 * burst, the longest task, the tasks' total and the time blocked past 50 ms
 * each. Not a test: the figures depend on the machine (docs/performance.md).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createTRPCClient, httpLink } from "@trpc/client";
import { startApp } from "../server/app.js";
import { upsertUserWithPassword } from "../server/auth/users.js";
import { loadConfig } from "../server/config.js";
import { startEmbeddedPostgres } from "../server/db/embedded.js";
import type { AppRouter } from "../server/http/routers/_app.js";
import { createLogger } from "../server/logger.js";
import { transformer } from "../shared/transformer.js";
import { buildClient, findChromium, launch } from "../test/browser/browser.js";

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const jobs = Number(option("jobs", "2000"));
const bursts = Number(option("bursts", "3"));
const worker = process.argv.includes("--worker");
const EMAIL = "burst@example.com";
const PASSWORD = "correct horse battery staple";

declare global {
  interface Window {
    __longTasks: { start: number; duration: number }[];
  }
}

const chromiumPath = findChromium();
if (!chromiumPath) throw new Error("list-burst needs Chromium: set CHROMIUM_PATH or apt-get install chromium");
if (!process.argv.includes("--no-build")) await buildClient();

const logger = createLogger("warn", "bench", "stderr");
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-list-burst-"));
let url = process.env.BENCH_DATABASE_URL;
let stopPostgres = async () => {};
if (!url) {
  const embedded = await startEmbeddedPostgres(dataDir, logger, `bench_${randomBytes(4).toString("hex")}`);
  url = embedded.url;
  stopPostgres = embedded.stop;
}
const config = loadConfig({
  NODE_ENV: "test",
  PORT: "0",
  HOST: "127.0.0.1",
  DATABASE_URL: url,
  DATA_DIR: dataDir,
  LOG_LEVEL: "silent",
  WORKER: worker ? "on" : "off",
  SMTP_URL: "smtp://127.0.0.1:2525",
  PASSWORD_HASH_N: "16384",
  // Bursts one after another: no per-user rate limit.
  ENQUEUE_RATE_PER_MINUTE: "0",
  EMAIL_RATE_PER_MINUTE: "0",
});
const noop = async () => ({ messageId: "<noop@bench>", accepted: [], response: "noop" });
const app = await startApp(config, logger, { client: "static", tuning: { email: { run: noop } } });
const browser = await launch(chromiumPath);
try {
  await upsertUserWithPassword(app.services.db, EMAIL, PASSWORD, "user");
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.addInitScript(() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        window.__longTasks.push({ start: entry.startTime, duration: entry.duration });
    }).observe({ type: "longtask", buffered: true });
  });
  await page.goto(app.url);
  await page.getByLabel("Email").fill(EMAIL);
  await page.getByLabel("Password").fill(PASSWORD);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Live", { exact: true }).waitFor();
  await page.goto(`${app.url}/#/jobs`);

  // An API client with the page's session cookie.
  const cookie = (await page.context().cookies()).map((c) => `${c.name}=${c.value}`).join("; ");
  const client = createTRPCClient<AppRouter>({
    links: [httpLink({ url: `${app.url}/trpc`, transformer, headers: { cookie } })],
  });

  process.stdout.write(
    `list-burst: ${jobs} jobs per burst, worker ${worker ? "on (no-op email)" : "off"}, Chromium ${browser.version()}, ${os.cpus().length} CPUs\n`,
  );
  for (let burst = 1; burst <= bursts; burst++) {
    await page.waitForTimeout(2_000); // the previous burst's tail, and the counts' once-a-second refresh
    await page.evaluate(() => {
      window.__longTasks = [];
    });
    const started = Date.now();
    await client.jobs.enqueueMany.mutate({
      jobs: Array.from({ length: jobs }, (_, i) => ({
        type: "email" as const,
        payload: { to: `burst${i}@example.com`, subject: `Burst ${burst}.${i}`, body: "b" },
      })),
    });
    const newest = (await client.jobs.list.query({ limit: 1 })).items[0]?.id;
    const onTop = await page
      .locator(`table.jobs tbody tr:first-child[data-job-id="${newest}"]`)
      .waitFor({ timeout: 30_000 })
      .then(
        () => `after ${Date.now() - started} ms`,
        () => "never (30 s)",
      );
    if (worker) {
      // Until every job of the burst is done.
      for (;;) {
        const { items } = await client.jobs.list.query({ status: "pending", limit: 1 });
        const { items: running } = await client.jobs.list.query({ status: "running", limit: 1 });
        if (items.length === 0 && running.length === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }
    await page.waitForTimeout(2_000);
    const tasks = await page.evaluate(() => window.__longTasks);
    const longest = Math.max(0, ...tasks.map((t) => t.duration));
    const total = tasks.reduce((sum, t) => sum + t.duration, 0);
    const blocked = tasks.reduce((sum, t) => sum + Math.max(0, t.duration - 50), 0);
    const shown = await page.$$eval("table.jobs tbody tr[data-job-id]", (trs) =>
      trs.map((tr) => `${tr.getAttribute("data-job-id")} ${tr.getAttribute("data-status")}`),
    );
    const { items } = await client.jobs.list.query({ limit: Math.max(1, shown.length) });
    const same = JSON.stringify(shown) === JSON.stringify(items.map((j) => `${j.id} ${j.status}`));
    process.stdout.write(
      `burst ${burst}: newest job on top ${onTop}; rows ${same ? "match" : "DIFFER from"} a fresh jobs.list; ${tasks.length} long tasks, longest ${longest.toFixed(0)} ms, total ${total.toFixed(0)} ms, blocked past 50 ms ${blocked.toFixed(0)} ms\n`,
    );
  }
} finally {
  await browser.close();
  await app.stop(1000);
  await stopPostgres();
  await fs.rm(dataDir, { recursive: true, force: true });
}
