// `npm run token` says which database it writes to, and refuses to make one up:
// with no DATABASE_URL and no embedded Postgres initialised in DATA_DIR it
// exits 1 (an empty Postgres created there would hold a user the app never sees).
// The embedded cases (beside `npm run dev`, and with the app stopped) are in
// commands.test.ts.
import { spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { authenticate } from "../../server/auth/tokens.js";
import { openTestDb, type TestDb } from "../support/db.js";

/** What `npm run token` runs, without npm in between. */
function runToken(args: string[], env: Record<string, string>) {
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, ["--import", "tsx", "server/cli/token.ts", ...args], {
      env: { ...process.env, DATABASE_URL: "", LOG_LEVEL: "warn", ...env },
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

let scratch: string;
let database: TestDb;

beforeAll(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-token-"));
  database = await openTestDb();
});
afterAll(async () => {
  await database?.close();
  await fs.rm(scratch, { recursive: true, force: true });
});

describe("npm run token", () => {
  test("with no DATABASE_URL and no initialised database in DATA_DIR, exits 1 and creates nothing", async () => {
    const empty = await fs.mkdtemp(path.join(scratch, "empty-"));
    const missing = path.join(scratch, "missing");
    for (const dataDir of [empty, missing]) {
      const result = await runToken(["nobody@example.com"], { DATA_DIR: dataDir });
      expect({ dataDir, code: result.code }).toEqual({ dataDir, code: 1 });
      expect(result.stderr).toBe("No database here: start `npm run dev` first or set DATABASE_URL\n");
      expect(result.stdout).toBe("");
    }
    // No embedded Postgres was initialised (nor its state file written), and no DATA_DIR made.
    expect(await fs.readdir(empty)).toEqual([]);
    await expect(fs.access(missing)).rejects.toThrow();
  });

  test("with DATABASE_URL, says on stderr that it used it (without the password); the token is stdout's last line", async () => {
    const url = new URL(database.url);
    const result = await runToken(["named@example.com"], { DATABASE_URL: database.url, DATA_DIR: scratch });
    expect(result.code).toBe(0);
    const shown = new URL(database.url);
    shown.password = "";
    expect(result.stderr).toContain(`token: using DATABASE_URL ${shown.toString()}\n`);
    if (url.password) expect(result.stderr).not.toContain(`:${url.password}@`);
    const token = lastLine(result.stdout);
    expect(token).toMatch(/^tj_[A-Za-z0-9_-]{43}$/);
    await expect(authenticate(database.db, token)).resolves.toMatchObject({ email: "named@example.com" });
    // DATA_DIR is not consulted when DATABASE_URL is set.
    expect(await fs.readdir(scratch)).not.toContain("postgres");
  });
});
