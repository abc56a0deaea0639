// `npm run build` then `npm start`: one Express server on one port serving the
// built client and the API, in production mode.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, trpcClient } from "../support/app.js";

let server: ChildProcess | undefined;
let output = "";
let dataDir: string;

beforeAll(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-prod-"));
}, 120_000);
afterAll(async () => {
  if (server?.exitCode === null) server.kill("SIGKILL");
  await fs.rm(dataDir, { recursive: true, force: true });
});

test("the production server serves the built client and the API on one port", async () => {
  // What `npm start` runs, with NODE_ENV=production.
  server = spawn(process.execPath, ["--import", "tsx", "server/main.ts"], {
    env: {
      ...process.env,
      NODE_ENV: "production",
      PORT: "0",
      DATA_DIR: dataDir,
      DATABASE_URL: "",
      SMTP_URL: "smtp://127.0.0.1:2525",
      WORKER: "off",
      LOG_LEVEL: "info",
    },
  });
  server.stdout?.on("data", (d) => {
    output += d;
  });
  server.stderr?.on("data", (d) => {
    output += d;
  });
  const url = await eventually(async () => /"url":"(http:\/\/localhost:\d+)"/.exec(output)?.[1], 90_000);
  const html = await (await fetch(url)).text();
  expect(html).toContain('<div id="root">');
  const asset = /src="(\/assets\/[^"]+\.js)"/.exec(html)?.[1];
  expect(asset).toBeDefined();
  expect((await fetch(`${url}${asset}`)).headers.get("content-type")).toContain("javascript");
  // No dev token printed in production, and the API refuses anonymous calls.
  expect(output).not.toContain("Sign in as");
  await expect(trpcClient(url, undefined).jobs.list.query({})).rejects.toMatchObject({
    data: { code: "UNAUTHORIZED" },
  });
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
  const exited = new Promise((resolve) => server?.on("exit", resolve));
  server.kill("SIGTERM");
  expect(await exited).toBe(0);
});
