// A worker process killed (SIGKILL) in the middle of an export leaves no file
// that can be downloaded: only a temporary file, never renamed or recorded.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import { seedJobs } from "../../server/lifecycle/seed.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";

let app: TestApp;
let worker: ChildProcess | undefined;

beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
});
afterAll(async () => {
  try {
    if (worker?.pid) process.kill(-worker.pid, "SIGKILL");
  } catch {
    // already gone
  }
  await app?.close();
});

test("SIGKILL mid-export: no downloadable partial file", async () => {
  const token = await app.token("crash-export@example.com");
  const client = app.client(token);
  const owner = await app.app.services.db.user.findUniqueOrThrow({ where: { email: "crash-export@example.com" } });
  await seedJobs(app.app.services.pool, owner.id, 300_000);
  const { jobId } = await client.jobs.enqueue.mutate({ type: "export", payload: { format: "ndjson" } });
  const exportDir = app.app.services.config.exportDir;

  worker = spawn(process.execPath, ["--import", "tsx", "server/worker-main.ts"], {
    env: {
      ...process.env,
      DATABASE_URL: app.databaseUrl,
      EXPORT_DIR: exportDir,
      LOG_LEVEL: "warn",
      SMTP_URL: "smtp://127.0.0.1:2525",
    },
    detached: true,
    stdio: "ignore",
  });
  // Wait until rows are being written, then kill the worker outright.
  await eventually(async () => {
    const job = await client.jobs.get.query({ jobId });
    return job.type === "export" && (job.progress?.rowsDone ?? 0) > 0;
  }, 60_000);
  const exited = new Promise((resolve) => worker?.on("exit", resolve));
  process.kill(-(worker.pid as number), "SIGKILL");
  await exited;

  const files = await fs.readdir(exportDir);
  const ours = files.filter((f) => f.startsWith(jobId));
  expect(ours.length).toBeGreaterThan(0);
  expect(ours.every((f) => f.endsWith(".tmp"))).toBe(true);
  expect(await app.app.services.db.exportFile.findUnique({ where: { jobId } })).toBeNull();
  const response = await fetch(`${app.url}/api/exports/${jobId}/download`, {
    headers: { authorization: `Bearer ${token}` },
  });
  expect(response.status).toBe(404);
  expect((await client.jobs.get.query({ jobId })).status).toBe("running"); // recovered by a later worker
}, 120_000);
