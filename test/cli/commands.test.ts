// The commands a newcomer runs, as real processes on an embedded Postgres:
// `npm run dev` serves the app and the API, `npm run token` and
// `npm run db:migrate` work beside it (finding its Postgres through DATA_DIR)
// and without it, and SIGTERM shuts everything down.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs/promises";
import path from "node:path";
import { fileURLToPath } from "node:url";
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
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** The local addresses the process listens on at `port`, from /proc/net/tcp{,6} (hex, as the kernel writes them). */
async function listeningAddresses(port: number): Promise<string[]> {
  const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  const found: string[] = [];
  for (const table of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await fs.readFile(table, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === "0A" && local?.endsWith(`:${hexPort}`)) found.push(local.split(":")[0] as string);
    }
  }
  return found;
}

beforeAll(async () => {
  // Inside the checkout, where the default DATA_DIR (.data/) lives: the dev
  // server must not serve it, though Vite would serve anything under the root.
  await fs.mkdir(path.join(ROOT, ".data"), { recursive: true });
  dataDir = await fs.mkdtemp(path.join(ROOT, ".data", "cli-test-"));
  // What `npm run dev` runs, without npm in between, so signals and the exit code are the app's own.
  dev = spawn(process.execPath, ["--import", "tsx", "server/main.ts", "--dev"], {
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      DATABASE_URL: "",
      SMTP_URL: "",
      PORT: "0",
      HOST: "",
      PUBLIC_URL: "",
      LOG_LEVEL: "warn",
    },
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
    // The favicon the page links to (client/public/), served by Vite.
    const favicon = await fetch(`${baseUrl}/favicon.svg`);
    expect(favicon.status).toBe(200);
    expect(favicon.headers.get("content-type")).toContain("image/svg+xml");
    const state = JSON.parse(await fs.readFile(path.join(dataDir, "postgres.json"), "utf8"));
    expect(state.port).toBeGreaterThan(0);
  });

  test("listens on loopback only by default, and its banner gives no exposure warning", async () => {
    const port = Number(new URL(baseUrl).port);
    // 0100007F is 127.0.0.1 as /proc/net/tcp writes it; 0.0.0.0 would be 00000000.
    expect(await listeningAddresses(port)).toEqual(["0100007F"]);
    expect(devOutput).not.toContain("WARNING");
  });

  test("the demo token printed at start expires after 24 h, and the banner says when", async () => {
    const until = /valid until (\S+):/.exec(devOutput)?.[1];
    expect(until).toBeDefined();
    const hours = (Date.parse(until as string) - Date.now()) / 3600_000;
    expect(hours).toBeGreaterThan(23);
    expect(hours).toBeLessThanOrEqual(24);
  });

  test("Vite's /@fs/ refuses DATA_DIR, server/, prisma/, .git/ and .env files (403), and still serves the client", async () => {
    const fsUrl = (file: string) => `${baseUrl}/@fs${file}`;
    const client = await fetch(fsUrl(path.join(ROOT, "client", "src", "main.tsx")));
    expect(client.status).toBe(200);
    const refused = [
      path.join(dataDir, "postgres.json"),
      path.join(dataDir, "postgres", "PG_VERSION"),
      path.join(ROOT, "server", "app.ts"),
      path.join(ROOT, "server", "config.ts"),
      path.join(ROOT, "prisma", "schema.prisma"),
      path.join(ROOT, ".git", "HEAD"),
      path.join(ROOT, ".env"),
      path.join(ROOT, ".env.local"),
      path.join(ROOT, "package.json"),
    ];
    for (const file of refused) {
      const response = await fetch(fsUrl(file));
      expect({ file, status: response.status }).toEqual({ file, status: 403 });
    }
    // A secret-looking file inside client/, which Vite may serve: refused by /@fs/ and by plain path.
    const probe = path.join(ROOT, "client", `.envrc-probe-${process.pid}`);
    await fs.writeFile(probe, "SECRET=probe\n");
    try {
      expect((await fetch(fsUrl(probe))).status).toBe(403);
      const plain = await fetch(`${baseUrl}/${path.basename(probe)}?raw`);
      expect(await plain.text()).not.toContain("SECRET=probe");
    } finally {
      await fs.rm(probe, { force: true });
    }
    // Spelled with %-escapes and dot segments too.
    const escaped = `${baseUrl}/@fs${ROOT.replace(/\/$/, "")}/client/..%2Fserver%2Fapp.ts`;
    expect((await fetch(escaped)).status).toBe(403);
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
    // It says which database it used: the running app's, found by DATA_DIR.
    const { port } = JSON.parse(await fs.readFile(path.join(dataDir, "postgres.json"), "utf8"));
    expect(result.stderr).toContain(
      `token: using the embedded Postgres in ${path.relative(ROOT, dataDir)} (port ${port})\n`,
    );
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

  test("npm run token --expires sets an expiry; a bad value exits 2 with the usage line", async () => {
    const result = await npmRun("token", ["expiring@example.com", "--expires", "2h"]);
    expect(result.code).toBe(0);
    const until = /token expires at (\S+)/.exec(result.stderr)?.[1];
    const hours = (Date.parse(until ?? "") - Date.now()) / 3600_000;
    expect(hours).toBeGreaterThan(1.9);
    expect(hours).toBeLessThanOrEqual(2);
    await expect(trpcClient(baseUrl, lastLine(result.stdout)).auth.me.query()).resolves.toMatchObject({
      email: "expiring@example.com",
    });
    for (const bad of [["--expires", "2x"], ["--expires"], ["--expires", "0d"], ["--expires=-1h"], ["--forever"]]) {
      const refused = await npmRun("token", ["expiring@example.com", ...bad]);
      expect({ bad, code: refused.code }).toEqual({ bad, code: 2 });
      expect(refused.stderr).toContain("usage: npm run token -- <email> [--admin] [--expires <n>d|<n>h|<n>m]");
      expect(refused.stdout).not.toMatch(/tj_/);
    }
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
    expect(result.stderr).toMatch(
      new RegExp(
        `token: using the embedded Postgres in ${path.relative(ROOT, dataDir)} \\(port \\d+, started for this command\\)\n`,
      ),
    );
    await expect(fs.access(path.join(dataDir, "postgres.json"))).rejects.toThrow();
  });
});
