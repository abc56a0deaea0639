// The export task through the real runner: streamed CSV and NDJSON (gzip too),
// parsed back and compared with the rows; filters; progress; the signed,
// expiring download link and who may download without it; retention; and a
// time limit that leaves no partial file.
import fs from "node:fs/promises";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { seedJobs } from "../../server/lifecycle/seed.js";
import { cleanupExports } from "../../server/tasks/housekeeping.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { rejection } from "../support/fixtures.js";

let app: TestApp;
let token: string;
let client: ReturnType<TestApp["client"]>;
let ownerId: string;

/** A small RFC 4180 parser, independent of the writer under test. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(cell);
      cell = "";
    } else if (c === "\r" && text[i + 1] === "\n") {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
      i++;
    } else cell += c;
  }
  return rows;
}

async function runExport(payload: Record<string, unknown>) {
  const { jobId } = await client.jobs.enqueue.mutate({ type: "export", payload: payload as never });
  const job = await eventually(async () => {
    const current = await client.jobs.get.query({ jobId });
    return ["succeeded", "failed"].includes(current.status) ? current : undefined;
  }, 30_000);
  if (job.type !== "export" || !job.result) throw new Error(`export ${jobId} ended ${job.status}: ${job.error}`);
  return { job, result: job.result };
}

async function download(url: string, headers: Record<string, string> = {}) {
  return fetch(url.startsWith("http") ? url : `${app.url}${url}`, { headers });
}

beforeAll(async () => {
  app = await startTestApp({ WORKER: "on" }, { tuning: { export: { backoff: { baseMs: 10, maxMs: 10 } } } });
  token = await app.token("exporter@example.com");
  client = app.client(token);
  ownerId = (await app.app.services.db.user.findUniqueOrThrow({ where: { email: "exporter@example.com" } })).id;
  await seedJobs(app.app.services.pool, ownerId, 120);
  // A job whose text needs quoting and formula neutralising.
  await app.app.services.pool.query(
    `UPDATE jobs SET error = $2 WHERE id = (SELECT id FROM jobs WHERE owner_id = $1 ORDER BY created_at LIMIT 1)`,
    [ownerId, '=cmd|"/c calc"!A1, "quoted"\nnext line'],
  );
});
afterAll(() => app?.close());

async function ownedRows() {
  const { rows } = await app.app.services.pool.query<{ id: string; status: string; error: string | null }>(
    "SELECT id, status, error FROM jobs WHERE owner_id = $1 AND type = 'email' ORDER BY created_at, id",
    [ownerId],
  );
  return rows;
}

describe("export", () => {
  test("files are written owner-only (0600), in an owner-only folder (0700)", async () => {
    const { job } = await runExport({ format: "ndjson", filter: { type: "email" } });
    const exportDir = app.app.services.config.exportDir;
    const names = (await fs.readdir(exportDir)).filter((name) => name.startsWith(job.id));
    expect(names).toHaveLength(1);
    const file = await fs.stat(`${exportDir}/${names[0]}`);
    expect(file.mode & 0o777).toBe(0o600);
    expect((await fs.stat(exportDir)).mode & 0o777).toBe(0o700);
  });

  test("CSV: every row of the caller's jobs, parsed back equal, formula cells neutralised", async () => {
    const { job, result } = await runExport({ format: "csv", filter: { type: "email" } });
    expect(result.downloadUrl).toMatch(new RegExp(`^/api/exports/${job.id}/download\\?expires=\\d+&signature=`));
    const response = await download(result.downloadUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/csv");
    const text = await response.text();
    expect(Buffer.byteLength(text)).toBe(result.bytes);
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual([
      "id",
      "type",
      "status",
      "attempt",
      "max_attempts",
      "priority",
      "idempotency_key",
      "created_at",
      "started_at",
      "completed_at",
      "error",
      "payload",
      "result",
      "events",
    ]);
    const expected = await ownedRows();
    expect(result.rows).toBe(expected.length);
    expect(rows.map((r) => r[0])).toEqual(expected.map((r) => r.id));
    expect(rows.map((r) => r[2])).toEqual(expected.map((r) => r.status));
    const tricky = rows[0]?.[10];
    expect(tricky).toBe(`'${expected[0]?.error}`);
    expect(JSON.parse(rows[0]?.[13] ?? "[]").map((e: { status: string }) => e.status)).toEqual([
      "pending",
      "running",
      "succeeded",
    ]);
    const progress = job.events.filter((e) => e.kind === "progress");
    expect(progress.at(-1)?.progress).toMatchObject({
      percent: 100,
      rowsDone: expected.length,
      rowsTotal: expected.length,
    });
  });

  test("NDJSON with gzip: one JSON object per job, equal to the rows", async () => {
    const { result } = await runExport({ format: "ndjson", gzip: true, filter: { type: "email" } });
    const response = await download(result.downloadUrl);
    expect(response.headers.get("content-type")).toBe("application/gzip");
    const lines = gunzipSync(Buffer.from(await response.arrayBuffer()))
      .toString("utf8")
      .trimEnd()
      .split("\n");
    const parsed = lines.map((l) => JSON.parse(l) as { id: string; status: string; events: unknown[] });
    const expected = await ownedRows();
    expect(parsed.map((p) => p.id)).toEqual(expected.map((r) => r.id));
    expect(parsed.every((p) => p.events.length === 3)).toBe(true);
  });

  test("filters by state and time range", async () => {
    const pool = app.app.services.pool;
    const { rows } = await pool.query<{ id: string; created_at: Date }>(
      "SELECT id, created_at FROM jobs WHERE owner_id = $1 AND type = 'email' ORDER BY created_at LIMIT 3 OFFSET 10",
      [ownerId],
    );
    await pool.query("UPDATE jobs SET status = 'cancelled' WHERE id = ANY($1)", [rows.map((r) => r.id)]);
    const cancelled = await runExport({ format: "ndjson", filter: { status: "cancelled" } });
    expect(cancelled.result.rows).toBe(3);
    const from = rows[0]?.created_at as Date;
    const to = rows[2]?.created_at as Date;
    const ranged = await runExport({ format: "ndjson", filter: { type: "email", from, to } });
    expect(ranged.result.rows).toBe(2); // from inclusive, to exclusive
  });

  test("the link works without signing in until it expires; a bad signature needs the owner or an admin", async () => {
    const { job, result } = await runExport({ format: "csv", filter: { type: "email" } });
    const tampered = result.downloadUrl.replace(/signature=[^&]+/, "signature=forged");
    expect((await download(tampered)).status).toBe(401);
    expect((await download(tampered, { authorization: `Bearer ${token}` })).status).toBe(200);
    const stranger = await app.token("stranger-export@example.com");
    expect((await download(tampered, { authorization: `Bearer ${stranger}` })).status).toBe(404);
    const admin = await app.token("admin-export@example.com", { admin: true });
    expect((await download(tampered, { authorization: `Bearer ${admin}` })).status).toBe(200);
    const expired = result.downloadUrl.replace(/expires=\d+/, `expires=${Math.floor(Date.now() / 1000) - 10}`);
    expect((await download(expired)).status).toBe(401);
    // Past retention, the file and its record are deleted.
    await app.app.services.pool.query(
      "UPDATE export_files SET expires_at = now() - interval '1 second' WHERE job_id = $1",
      [job.id],
    );
    await cleanupExports.task(app.app.services)({}, {
      logger: { info: () => {} },
    } as never);
    expect((await download(result.downloadUrl, { authorization: `Bearer ${token}` })).status).toBe(404);
    const files = await fs.readdir(app.app.services.config.exportDir);
    expect(files.some((f) => f.startsWith(job.id))).toBe(false);
  });

  test("a bad export payload is BAD_REQUEST naming the field", async () => {
    const error = await rejection(client.jobs.enqueue.mutate({ type: "export", payload: { format: "xlsx" } as never }));
    expect(error.data?.zodError?.issues[0]?.path).toEqual(["payload", "format"]);
  });
});

describe("an export cut short by its time limit", () => {
  let slow: TestApp;
  beforeAll(async () => {
    slow = await startTestApp(
      { WORKER: "on" },
      { tuning: { export: { backoff: { baseMs: 10, maxMs: 10 }, timeouts: { softMs: 150, hardMs: 5_000 } } } },
    );
  });
  afterAll(() => slow?.close());

  test("aborts cleanly, removes its partial file, and after its last attempt fails with reason timeout", async () => {
    const slowClient = slow.client(await slow.token("big@example.com"));
    const owner = await slow.app.services.db.user.findUniqueOrThrow({ where: { email: "big@example.com" } });
    await seedJobs(slow.app.services.pool, owner.id, 150_000);
    const { jobId } = await slowClient.jobs.enqueue.mutate({ type: "export", payload: { format: "csv" } });
    const job = await eventually(async () => {
      const current = await slowClient.jobs.get.query({ jobId });
      return current.status === "failed" ? current : undefined;
    }, 60_000);
    expect(job).toMatchObject({ reason: "timeout", attempt: 3 });
    const files = await fs.readdir(slow.app.services.config.exportDir).catch(() => []);
    expect(files.filter((f) => f.startsWith(jobId))).toEqual([]);
    const response = await fetch(`${slow.url}/api/exports/${jobId}/download`, {
      headers: { authorization: `Bearer ${await slow.token("big@example.com")}` },
    });
    expect(response.status).toBe(404);
  }, 120_000);
});
