// The commands a newcomer runs, as real processes on an embedded Postgres:
// `npm run dev` serves the app and the API, `npm run token` and
// `npm run db:migrate` work beside it (finding its Postgres through DATA_DIR)
// and without it, and SIGTERM shuts everything down.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { eventually, trpcClient } from "../support/app.js";
import { emailItem } from "../support/fixtures.js";

let dataDir: string;
let dev: ChildProcess | undefined;
let devOutput = "";
let baseUrl = "";

/** Runs an npm script to completion and returns its output. */
function npmRun(script: string, args: string[] = []) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn("npm", ["run", script, ...(args.length ? ["--", ...args] : [])], {
      env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", LOG_LEVEL: "warn" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => {
      stdout += d;
    });
    child.stderr.on("data", (d) => {
      stderr += d;
    });
    child.on("exit", (code) => resolve({ code, stdout, stderr }));
  });
}

const lastLine = (text: string) => text.trimEnd().split("\n").at(-1) ?? "";

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-cli-"));
  // What `npm run dev` runs, without npm in between, so signals and the exit code are the app's own.
  dev = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "--dev"], {
    env: { ...process.env, DATA_DIR: dataDir, DATABASE_URL: "", SMTP_URL: "", PORT: "0", LOG_LEVEL: "warn" },
    detached: true,
  });
  dev.stdout?.on("data", (d) => {
    devOutput += d;
  });
  dev.stderr?.on("data", (d) => {
    devOutput += d;
  });
  baseUrl = await eventually(async () => /Typed Jobs: (http:\/\/localhost:\d+)/.exec(devOutput)?.[1], 90_000);
}, 120_000);

afterAll(async () => {
  try {
    if (dev?.pid) process.kill(-dev.pid, "SIGKILL");
  } catch {
    // already gone
  }
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe("the dev server (npm run dev)", () => {
  test("answers /healthz and serves the client on one port, with an embedded Postgres", async () => {
    const health = await fetch(`${baseUrl}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true, database: "up" });
    const page = await fetch(`${baseUrl}/`);
    expect(await page.text()).toContain('<div id="root">');
    const state = JSON.parse(await fs.readFile(path.join(dataDir, "postgres.json"), "utf8"));
    expect(state.port).toBeGreaterThan(0);
  });

  test("prints a demo token that the API accepts, and refuses anonymous calls", async () => {
    expect(devOutput).toContain("Sign in as demo@typed-jobs.local / demo-password");
    const token = /\n\s+(tj_\S+)\n/.exec(devOutput)?.[1];
    expect(token).toBeDefined();
    await expect(trpcClient(baseUrl, token).jobs.list.query({})).resolves.toHaveProperty("items");
    await expect(trpcClient(baseUrl, undefined).jobs.list.query({})).rejects.toMatchObject({
      data: { code: "UNAUTHORIZED" },
    });
  });

  test("npm run token beside it prints a token (last stdout line) for the same database", async () => {
    const result = await npmRun("token", ["cli-user@example.com"]);
    expect(result.code).toBe(0);
    const token = lastLine(result.stdout);
    expect(token).toMatch(/^tj_[A-Za-z0-9_-]{43}$/);
    const client = trpcClient(baseUrl, token);
    const { jobId } = await client.jobs.enqueue.mutate(emailItem({}, "sink@example.com"));
    // Delivered to the development SMTP sink.
    const job = await eventually(async () => {
      const current = await client.jobs.get.query({ jobId });
      return current.status === "succeeded" ? current : undefined;
    });
    expect(job.status).toBe("succeeded");
    // The sink stored it, readable by an admin (the printed demo account).
    const demoToken = /\n\s+(tj_\S+)\n/.exec(devOutput)?.[1];
    const mail = await trpcClient(baseUrl, demoToken).devMail.list.query({});
    expect(mail.find((m) => m.messageId === `<${jobId}@typed-jobs.local>`)?.to).toEqual(["sink@example.com"]);
  });

  test("npm run db:migrate beside it succeeds (nothing pending)", async () => {
    const result = await npmRun("db:migrate");
    expect(result.code).toBe(0);
  });

  test("SIGTERM shuts down gracefully and stops the embedded Postgres", async () => {
    const exited = new Promise<number | null>((resolve) => dev?.on("exit", resolve));
    if (dev?.pid) process.kill(dev.pid, "SIGTERM");
    expect(await exited).toBe(0);
    await eventually(async () =>
      fs
        .access(path.join(dataDir, "postgres.json"))
        .then(() => false)
        .catch(() => true),
    );
  });

  test("npm run token with the app stopped starts the embedded Postgres itself, then stops it", async () => {
    const result = await npmRun("token", ["offline@example.com", "--admin"]);
    expect(result.code).toBe(0);
    expect(lastLine(result.stdout)).toMatch(/^tj_/);
    await expect(fs.access(path.join(dataDir, "postgres.json"))).rejects.toThrow();
  });
});
