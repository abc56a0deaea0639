// The token buckets' arithmetic on real Postgres (take_rate_tokens through
// takeJobTokens): refill by the database clock, the burst cap, the wait a
// refused call is told, all-or-nothing across the enqueue and email buckets,
// a call bigger than a burst refused as bad input, and 0 turning a limit off.
// Elapsed time is made by moving a bucket's updated_at back, never by waiting;
// rates of one token a minute leave seconds of slack for a slow machine.
import { afterAll, beforeAll, expect, test } from "vitest";
import { FieldIssuesError } from "../../server/errors.js";
import { type BucketLimits, takeJobTokens } from "../../server/limits/buckets.js";
import { RateLimitedError } from "../../server/limits/rate-limited.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { makeUser } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

const slow: BucketLimits = { ENQUEUE_RATE_PER_MINUTE: 1, ENQUEUE_BURST: 10, EMAIL_RATE_PER_MINUTE: 1, EMAIL_BURST: 4 };

let users = 0;
async function owner(): Promise<string> {
  return (await makeUser(t.db, `bucket${++users}@example.com`)).id;
}

async function take(ownerId: string, jobs: number, emails = 0, limits = slow) {
  return takeJobTokens(t.pool, ownerId, limits, { jobs, emails }, ["jobs"]).then(
    () => ({ ok: true as const }),
    (error: unknown) => {
      if (error instanceof RateLimitedError) return { ok: false as const, retryAfterMs: error.retryAfterMs, error };
      throw error;
    },
  );
}

async function tokens(ownerId: string, kind: string): Promise<number | undefined> {
  const { rows } = await t.pool.query<{ tokens: number }>(
    "SELECT tokens FROM rate_buckets WHERE owner_id = $1 AND kind = $2",
    [ownerId, kind],
  );
  return rows[0]?.tokens;
}

/** As if the bucket had last been written `seconds` ago with `level` tokens. */
async function setBucket(ownerId: string, kind: string, level: number, seconds: number) {
  await t.pool.query(
    `INSERT INTO rate_buckets (owner_id, kind, tokens, updated_at)
     VALUES ($1, $2, $3, clock_timestamp() - make_interval(secs => $4))
     ON CONFLICT (owner_id, kind) DO UPDATE SET tokens = EXCLUDED.tokens, updated_at = EXCLUDED.updated_at`,
    [ownerId, kind, level, seconds],
  );
}

test("a new bucket is full: the burst goes through at once, one more waits a whole token", async () => {
  const id = await owner();
  expect(await take(id, 10)).toEqual({ ok: true });
  const refused = await take(id, 1);
  expect(refused.ok).toBe(false);
  // One token a minute, none left: a token's worth of waiting, less the instant since.
  if (!refused.ok) {
    expect(refused.retryAfterMs).toBeGreaterThan(50_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(refused.error.message).toMatch(/ENQUEUE_RATE_PER_MINUTE is 1 a minute.*ENQUEUE_BURST/);
  }
});

test("tokens come back with elapsed database time, at the rate", async () => {
  const id = await owner();
  await setBucket(id, "enqueue", 0, 5 * 60); // five minutes ago, empty: five tokens now
  expect(await take(id, 6)).toMatchObject({ ok: false });
  expect(await take(id, 5)).toEqual({ ok: true });
  expect(await take(id, 1)).toMatchObject({ ok: false });
});

test("refill stops at the burst", async () => {
  const id = await owner();
  await setBucket(id, "enqueue", 0, 24 * 3600); // a day: 1440 minutes, but at most 10 tokens
  expect(await take(id, 10)).toEqual({ ok: true });
  expect(await tokens(id, "enqueue")).toBeLessThan(1);
});

test("retryAfterMs is the time until the whole count fits", async () => {
  const id = await owner();
  await setBucket(id, "enqueue", 2, 0);
  const refused = await take(id, 5); // 3 tokens short at one a minute
  expect(refused.ok).toBe(false);
  if (!refused.ok) {
    expect(refused.retryAfterMs).toBeGreaterThan(170_000);
    expect(refused.retryAfterMs).toBeLessThanOrEqual(180_000);
  }
  // A refusal takes nothing.
  expect(await tokens(id, "enqueue")).toBeGreaterThanOrEqual(2);
  expect(await tokens(id, "enqueue")).toBeLessThan(3);
});

test("an email takes from both buckets, and a refusal by either takes from neither", async () => {
  const id = await owner();
  expect(await take(id, 4, 4)).toEqual({ ok: true });
  expect(await tokens(id, "enqueue")).toBeCloseTo(6, 0);
  const refused = await take(id, 1, 1); // the email bucket is empty; the enqueue one is not
  expect(refused.ok).toBe(false);
  if (!refused.ok) expect(refused.error.message).toMatch(/EMAIL_RATE_PER_MINUTE/);
  expect(await tokens(id, "enqueue")).toBeGreaterThanOrEqual(6);
  expect(await tokens(id, "enqueue")).toBeLessThan(7);
  // Jobs that are not emails still go through.
  expect(await take(id, 6)).toEqual({ ok: true });
});

test("a call bigger than a burst is bad input naming the field and the limit, not a wait", async () => {
  const id = await owner();
  const error = await takeJobTokens(t.pool, id, slow, { jobs: 11, emails: 0 }, ["jobs"]).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(FieldIssuesError);
  expect((error as FieldIssuesError).issues).toEqual([
    { code: "custom", path: ["jobs"], message: "at most 10 jobs fit in one call (ENQUEUE_BURST); this one has 11" },
  ]);
  const emails = await takeJobTokens(t.pool, id, slow, { jobs: 5, emails: 5 }, ["jobs"]).catch((e: unknown) => e);
  expect((emails as FieldIssuesError).issues[0]?.message).toMatch(/at most 4 email jobs .*EMAIL_BURST/);
  expect(await tokens(id, "enqueue")).toBeUndefined();
});

test("0 turns a limit off", async () => {
  const id = await owner();
  const off = { ...slow, ENQUEUE_RATE_PER_MINUTE: 0, EMAIL_BURST: 0 };
  for (let i = 0; i < 3; i++) expect(await take(id, 10, 10, off)).toEqual({ ok: true });
  expect(await tokens(id, "enqueue")).toBeUndefined();
  expect(await tokens(id, "email")).toBeUndefined();
});

test("concurrent takes share one statement (batched) and still never overdraw, across owners too", async () => {
  const [a, b] = [await owner(), await owner()];
  const results = await Promise.all(
    Array.from({ length: 30 }, (_, i) => take(i % 2 === 0 ? a : b, 1, i % 4 === 0 ? 1 : 0)),
  );
  const granted = (ownerId: string) => results.filter((r, i) => r.ok && (i % 2 === 0 ? a : b) === ownerId).length;
  // Each owner asked 15 times; the enqueue burst is 10 (a's emails: 8 asked, burst 4).
  expect(granted(b)).toBe(10);
  expect(granted(a)).toBeLessThanOrEqual(10);
  expect(await tokens(b, "enqueue")).toBeLessThan(1);
  expect(await tokens(b, "enqueue")).toBeGreaterThanOrEqual(0);
  expect(await tokens(a, "email")).toBeGreaterThanOrEqual(0);
  for (const result of results) if (!result.ok) expect(result.retryAfterMs).toBeGreaterThan(0);
});
