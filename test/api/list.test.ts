// jobs.list: newest first, limits, cursor pagination (also while jobs arrive),
// filters; and jobs.enqueueMany: ids in input order, batches up to 10,000.
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { AppRouter } from "../../server/http/routers/_app.js";
import type { EnqueueItem } from "../../shared/jobs.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";

type Client = ReturnType<TestApp["client"]>;
type ListInput = Parameters<Client["jobs"]["list"]["query"]>[0];

let app: TestApp;

beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
});
afterAll(async () => {
  await app?.close();
});

/** A client for a fresh user, so each test sees only its own jobs. */
async function newUser(name: string): Promise<Client> {
  return app.client(await app.token(`${name}@example.com`));
}

function items(count: number, prefix = "to"): EnqueueItem[] {
  return Array.from({ length: count }, (_, i) => ({
    type: "email" as const,
    payload: { to: `${prefix}${i}@example.com`, subject: `Message ${i}`, body: "Body" },
  }));
}

/**
 * Waits until the database clock is past `jobId`'s created_at (stored to the
 * millisecond), so the next job is strictly newer. Setup, not an assertion.
 */
async function afterCreationOf(jobId: string): Promise<void> {
  await eventually(async () => {
    const { rows } = await app.app.services.pool.query<{ later: boolean }>(
      "SELECT clock_timestamp() > created_at + interval '1 millisecond' AS later FROM jobs WHERE id = $1",
      [jobId],
    );
    return rows[0]?.later === true;
  });
}

async function enqueueBatch(client: Client, batch: EnqueueItem[]): Promise<string[]> {
  const { jobIds } = await client.jobs.enqueueMany.mutate({ jobs: batch });
  const last = jobIds.at(-1);
  if (last) await afterCreationOf(last);
  return jobIds;
}

/** Follows nextCursor to the end; returns each page's ids. */
async function allPages(client: Client, input: ListInput, between?: (page: number) => Promise<void>) {
  const pages: string[][] = [];
  let cursor: string | null = null;
  do {
    const page: Awaited<ReturnType<Client["jobs"]["list"]["query"]>> = await client.jobs.list.query({
      ...input,
      cursor,
    });
    pages.push(page.items.map((j) => j.id));
    cursor = page.nextCursor;
    if (cursor && between) await between(pages.length);
  } while (cursor);
  return pages;
}

/** The caller's job ids in the order the list promises: created_at desc, then id desc. */
async function expectedOrder(ownerId: string): Promise<string[]> {
  const { rows } = await app.app.services.pool.query<{ id: string }>(
    "SELECT id FROM jobs WHERE owner_id = $1 ORDER BY created_at DESC, id DESC",
    [ownerId],
  );
  return rows.map((r) => r.id);
}

async function ownerOf(client: Client, jobId: string): Promise<string> {
  return (await client.jobs.get.query({ jobId })).ownerId;
}

async function expectBadRequest(call: Promise<unknown>, path: PropertyKey[]) {
  const error = await call.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TRPCClientError);
  const clientError = error as TRPCClientError<AppRouter>;
  expect(clientError.data?.code).toBe("BAD_REQUEST");
  expect((clientError.data?.zodError?.issues ?? []).map((i) => i.path)).toContainEqual(path);
}

describe("jobs.list", () => {
  test("lists newest first", async () => {
    const client = await newUser("newest");
    const ids: string[] = [];
    for (const item of items(3)) {
      const { jobId } = await client.jobs.enqueue.mutate(item);
      await afterCreationOf(jobId);
      ids.push(jobId);
    }
    const { items: listed } = await client.jobs.list.query({});
    expect(listed.map((j) => j.id)).toEqual([...ids].reverse());
    expect(listed.map((j) => (j.type === "email" ? j.payload.to : undefined))).toEqual([
      "to2@example.com",
      "to1@example.com",
      "to0@example.com",
    ]);
  });

  test("jobs created in the same instant are ordered by id, newest batch first", async () => {
    const client = await newUser("same-instant");
    const first = await enqueueBatch(client, items(5, "first"));
    const second = await enqueueBatch(client, items(5, "second"));
    const listed = (await client.jobs.list.query({})).items.map((j) => j.id);
    expect(listed).toEqual([...[...second].sort().reverse(), ...[...first].sort().reverse()]);
  });

  test("limit defaults to 50 and may be up to 200", async () => {
    const client = await newUser("limits");
    await enqueueBatch(client, items(250));
    const byDefault = await client.jobs.list.query({});
    expect(byDefault.items).toHaveLength(50);
    expect(byDefault.nextCursor).not.toBeNull();
    const max = await client.jobs.list.query({ limit: 200 });
    expect(max.items).toHaveLength(200);
    expect(max.nextCursor).not.toBeNull();
    expect(max.items.slice(0, 50).map((j) => j.id)).toEqual(byDefault.items.map((j) => j.id));
    await expectBadRequest(client.jobs.list.query({ limit: 201 }), ["limit"]);
    await expectBadRequest(client.jobs.list.query({ limit: 0 }), ["limit"]);
  });

  test("cursor pagination walks 120 jobs exactly once: 50, 50, 20, then nextCursor null", async () => {
    const client = await newUser("walk");
    // Three batches: page boundaries fall both inside one instant (id order) and across instants.
    const ids = [
      ...(await enqueueBatch(client, items(40, "a"))),
      ...(await enqueueBatch(client, items(40, "b"))),
      ...(await enqueueBatch(client, items(40, "c"))),
    ];
    const pages = await allPages(client, { limit: 50 });
    expect(pages.map((p) => p.length)).toEqual([50, 50, 20]);
    const walked = pages.flat();
    expect(new Set(walked).size).toBe(120);
    expect(new Set(walked)).toEqual(new Set(ids));
    expect(walked).toEqual(await expectedOrder(await ownerOf(client, ids[0] ?? "")));
  });

  test("when the last page is exactly full, its nextCursor is null (no empty page)", async () => {
    const client = await newUser("exact");
    await enqueueBatch(client, items(4));
    const first = await client.jobs.list.query({ limit: 2 });
    expect(first.items).toHaveLength(2);
    const second = await client.jobs.list.query({ limit: 2, cursor: first.nextCursor });
    expect(second.items).toHaveLength(2);
    expect(second.nextCursor).toBeNull();
  });

  test("pagination stays correct while new jobs arrive between pages", async () => {
    const client = await newUser("arriving");
    const original = [...(await enqueueBatch(client, items(30, "a"))), ...(await enqueueBatch(client, items(30, "b")))];
    const arrived: string[] = [];
    const pages = await allPages(client, { limit: 25 }, async () => {
      arrived.push(...(await enqueueBatch(client, items(7, `new${arrived.length}`))));
    });
    expect(pages.map((p) => p.length)).toEqual([25, 25, 10]);
    const walked = pages.flat();
    expect(walked.filter((id) => arrived.includes(id))).toEqual([]);
    expect(walked).toHaveLength(original.length);
    expect(new Set(walked)).toEqual(new Set(original));
    // A fresh first page starts with the new arrivals.
    const fresh = await client.jobs.list.query({ limit: arrived.length });
    expect(new Set(fresh.items.map((j) => j.id))).toEqual(new Set(arrived));
  });

  test("filters by status, by type, and by both, also across pages", async () => {
    const client = await newUser("filters");
    const ids = await enqueueBatch(client, items(6));
    const [c1, c2, f1, ...pending] = ids as [string, string, string, ...string[]];
    await client.jobs.cancel.mutate({ jobId: c1 });
    await client.jobs.cancel.mutate({ jobId: c2 });
    const pool = app.app.services.pool;
    await pool.query(
      "UPDATE jobs SET status='failed', dlq_reason='retries_exhausted', error='x', completed_at=now() WHERE id=$1",
      [f1],
    );
    // A job of another type, as a future job type would store it.
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO jobs (id, owner_id, type, payload, status, max_attempts, run_at, payload_fingerprint)
       SELECT gen_random_uuid(), owner_id, 'webhook', '{}'::jsonb, 'pending', 1, now(), 'x' FROM jobs WHERE id = $1
       RETURNING id`,
      [c1],
    );
    const webhook = rows[0]?.id;

    const idsWhere = async (input: ListInput) => new Set((await allPages(client, { limit: 2, ...input })).flat());
    expect(await idsWhere({ status: "cancelled" })).toEqual(new Set([c1, c2]));
    expect(await idsWhere({ status: "failed" })).toEqual(new Set([f1]));
    expect(await idsWhere({ status: "pending" })).toEqual(new Set([...pending, webhook]));
    expect(await idsWhere({ status: "succeeded" })).toEqual(new Set());
    expect(await idsWhere({ type: "email" })).toEqual(new Set(ids));
    expect(await idsWhere({ type: "webhook" })).toEqual(new Set([webhook]));
    expect(await idsWhere({ type: "email", status: "pending" })).toEqual(new Set(pending));
    expect(await idsWhere({ type: "sms" })).toEqual(new Set());

    const cancelled = await client.jobs.list.query({ status: "cancelled" });
    expect(cancelled.items.every((j) => j.status === "cancelled")).toBe(true);
  });

  test("a malformed cursor is BAD_REQUEST naming cursor", async () => {
    const client = await newUser("bad-cursor");
    await expectBadRequest(client.jobs.list.query({ cursor: "garbage" }), ["cursor"]);
    await expectBadRequest(
      client.jobs.list.query({ cursor: "2024-99-99T00:00:00.000Z_00000000-0000-4000-8000-000000000000" }),
      ["cursor"],
    );
    await expectBadRequest(client.dlq.list.query({ cursor: "garbage" }), ["cursor"]);
  });
});

describe("jobs.enqueueMany", () => {
  test("returns jobIds in input order", async () => {
    const client = await newUser("order");
    const batch = items(25, "recipient");
    const { jobIds } = await client.jobs.enqueueMany.mutate({ jobs: batch });
    expect(jobIds).toHaveLength(25);
    expect(new Set(jobIds).size).toBe(25);
    for (const [index, jobId] of jobIds.entries()) {
      const job = await client.jobs.get.query({ jobId });
      expect(job.type === "email" && job.payload.to).toBe(`recipient${index}@example.com`);
    }
  });

  test("accepts 10,000 jobs in one call at the default limits, all written and queued", {
    timeout: 180_000,
  }, async () => {
    const client = await newUser("bulk");
    // Half emails, half exports: 5,000 emails is EMAIL_BURST's default (test/limits covers the email bucket).
    const jobs = items(10_000, "bulk").map(
      (item, i): EnqueueItem => (i % 2 === 0 ? item : { type: "export", payload: { format: "csv" } }),
    );
    const { jobIds } = await client.jobs.enqueueMany.mutate({ jobs });
    expect(jobIds).toHaveLength(10_000);
    expect(new Set(jobIds).size).toBe(10_000);
    const ownerId = await ownerOf(client, jobIds[0] ?? "");
    const { rows } = await app.app.services.pool.query<{ jobs: number; events: number; queued: number }>(
      `SELECT (SELECT count(*) FROM jobs WHERE owner_id = $1)::int AS jobs,
              (SELECT count(*) FROM job_events WHERE owner_id = $1)::int AS events,
              (SELECT count(*) FROM graphile_worker._private_jobs WHERE key = ANY($2::text[]))::int AS queued`,
      [ownerId, jobIds],
    );
    expect(rows[0]).toEqual({ jobs: 10_000, events: 10_000, queued: 10_000 });
    // Spot-check the ends: the mapping to input order holds in a big batch too.
    const lastEmail = await client.jobs.get.query({ jobId: jobIds[9_998] ?? "" });
    expect(lastEmail.type === "email" && lastEmail.payload.to).toBe("bulk9998@example.com");
    expect((await client.jobs.get.query({ jobId: jobIds[9_999] ?? "" })).type).toBe("export");
  });

  test("rejects 10,001 jobs with BAD_REQUEST naming jobs", { timeout: 60_000 }, async () => {
    const client = await newUser("too-many");
    const before = await app.app.services.pool.query("SELECT count(*)::int AS n FROM jobs");
    await expectBadRequest(client.jobs.enqueueMany.mutate({ jobs: items(10_001) }), ["jobs"]);
    const after = await app.app.services.pool.query("SELECT count(*)::int AS n FROM jobs");
    expect(after.rows[0].n).toBe(before.rows[0].n);
  });
});
