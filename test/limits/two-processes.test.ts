// Two server processes on one database share a user's enqueue bucket: the
// in-test app and a spawned `server/main.ts` together let through one burst,
// not one each. (An in-memory bucket would let each process take its own.)
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, startTestApp, type TestApp, trpcClient } from "../support/app.js";

const LIMITS = { ENQUEUE_RATE_PER_MINUTE: "1", ENQUEUE_BURST: "6" };

let appA: TestApp;
let processB: ChildProcess | undefined;
let urlB: string;
let output = "";
let dataDir: string;

beforeAll(async () => {
  appA = await startTestApp({ WORKER: "off", ...LIMITS });
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-limits-"));
  processB = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], {
    env: {
      ...process.env,
      NODE_ENV: "test",
      PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: dataDir,
      DATABASE_URL: appA.databaseUrl,
      WORKER: "off",
      LOG_LEVEL: "info",
      ...LIMITS,
    },
  });
  processB.stdout?.on("data", (d) => {
    output += d;
  });
  processB.stderr?.on("data", (d) => {
    output += d;
  });
  urlB = await eventually(async () => /"url":"(http:\/\/localhost:\d+)"/.exec(output)?.[1], 90_000);
}, 120_000);
afterAll(async () => {
  if (processB?.exitCode === null) {
    const exited = new Promise((resolve) => processB?.on("exit", resolve));
    processB.kill("SIGTERM");
    await exited;
  }
  await appA?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

const exportJob = { type: "export" as const, payload: { format: "csv" as const } };

async function refusal(call: Promise<unknown>) {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  return error instanceof TRPCClientError ? (error.data as { code?: string; retryAfterMs?: number }) : error;
}

test("one user's enqueues through two server processes draw on one bucket", async () => {
  const token = await appA.token("two-processes@example.com");
  const a = appA.client(token);
  const b = trpcClient(urlB, token);
  await a.jobs.enqueueMany.mutate({ jobs: [exportJob, exportJob, exportJob] });
  await b.jobs.enqueueMany.mutate({ jobs: [exportJob, exportJob] });
  await b.jobs.enqueue.mutate(exportJob);
  // Six taken between them: the burst. Each process alone has taken fewer.
  for (const client of [b, a]) {
    expect(await refusal(client.jobs.enqueue.mutate(exportJob))).toMatchObject({
      code: "TOO_MANY_REQUESTS",
      retryAfterMs: expect.any(Number),
    });
  }
  const { rows } = await appA.app.services.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs");
  expect(rows[0]?.n).toBe(6);
});
