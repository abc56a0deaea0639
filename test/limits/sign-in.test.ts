// Failed sign-ins are limited to 5 per (account, client address) and 50 per
// address per 15 minutes, and 100 per account per hour, counted in Postgres
// (so every server process shares them); a success resets its pair; a limited
// attempt answers 429 with Retry-After whether or not the password is right.
// Client addresses come from X-Forwarded-For, trusted from loopback.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { derivations } from "../../server/auth/passwords.js";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { RateLimitedError } from "../../server/limits/rate-limited.js";
import { reserveSignInAttempt, signInKey } from "../../server/limits/sign-in.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { signInFrom, statusOf } from "../support/sign-in.js";

const N = "16384";
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off", TRUST_PROXY: "loopback", PASSWORD_HASH_N: N });
});
afterAll(() => app?.close());

let users = 0;
/** A fresh account (so tests do not share counts), with its password. */
async function newUser(): Promise<{ email: string; password: string }> {
  users += 1;
  const email = `user${users}@example.com`;
  const password = `right-pass-${users}`;
  await upsertUserWithPassword(app.app.services.db, email, password, "user", Number(N));
  return { email, password };
}

let addresses = 0;
/** A fresh client address. */
function newAddress(): string {
  addresses += 1;
  return `198.51.100.${addresses}`;
}

function signIn(email: string, password: string, address: string, url = app.url) {
  return signInFrom(url, email, password, address);
}

/** Failures recorded straight into the table (the bulk of a limit; the edge goes over HTTP). */
async function recordFailures(rows: { email: string; address: string }[], age = "0 seconds") {
  await app.app.services.pool.query(
    `INSERT INTO sign_in_failures (email, address, at)
     SELECT email, address, now() - $3::interval FROM unnest($1::text[], $2::text[]) AS t(email, address)`,
    [rows.map((r) => r.email), rows.map((r) => r.address), age],
  );
}

async function expectLimited(response: Response, maxSeconds: number) {
  expect(response.status).toBe(429);
  const retryAfter = Number(response.headers.get("retry-after"));
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(maxSeconds);
  expect(response.headers.get("set-cookie")).toBeNull();
  const body = (await response.json()) as {
    error: { json: { message: string; data: { code: string; retryAfterMs: number } } };
  };
  expect(body.error.json.data.code).toBe("TOO_MANY_REQUESTS");
  expect(body.error.json.data.retryAfterMs).toBeGreaterThan(0);
  expect(body.error.json.message).toMatch(/^Too many sign-in attempts: try again in \d+ min$/);
  return retryAfter;
}

test("after 5 wrong passwords for an account from one address, the 6th attempt answers 429 with Retry-After, right password or not, without a derivation", async () => {
  const { email, password } = await newUser();
  const address = newAddress();
  for (let i = 0; i < 5; i++) expect(await statusOf(signIn(email, "wrong", address))).toBe(401);
  const before = derivations.started;
  await expectLimited(await signIn(email, password, address), 15 * 60);
  await expectLimited(await signIn(email, "wrong", address), 15 * 60);
  // Another spelling of the account is the same account.
  await expectLimited(await signIn(email.toUpperCase(), password, address), 15 * 60);
  expect(derivations.started).toBe(before);
});

test("Retry-After is when the failure that filled the limit leaves its window; older failures do not count", async () => {
  const { email, password } = await newUser();
  const address = newAddress();
  await recordFailures(
    Array.from({ length: 5 }, () => ({ email, address })),
    "14 minutes",
  );
  const retryAfter = await expectLimited(await signIn(email, password, address), 60);
  expect(retryAfter).toBeGreaterThanOrEqual(50);

  const other = await newUser();
  await recordFailures(
    Array.from({ length: 5 }, () => ({ email: other.email, address })),
    "15 minutes 1 second",
  );
  expect(await statusOf(signIn(other.email, other.password, address))).toBe(200);
});

test("another address may still sign in to the account, until the account has 100 failures in the hour", async () => {
  const { email, password } = await newUser();
  const blocked = newAddress();
  for (let i = 0; i < 5; i++) expect(await statusOf(signIn(email, "wrong", blocked))).toBe(401);
  await expectLimited(await signIn(email, password, blocked), 15 * 60);
  expect(await statusOf(signIn(email, password, newAddress()))).toBe(200);

  // 94 more (5 per address at most, so no pair is full), in the last hour but past the 15-minute windows.
  const spread = Array.from({ length: 94 }, (_, i) => ({ email, address: `203.0.113.${Math.floor(i / 4)}` }));
  await recordFailures(spread, "20 minutes");
  expect(await statusOf(signIn(email, "wrong", newAddress()))).toBe(401); // the 100th
  const retryAfter = await expectLimited(await signIn(email, password, newAddress()), 60 * 60);
  expect(retryAfter).toBeGreaterThan(15 * 60);
  // Other accounts from those addresses are not affected.
  const other = await newUser();
  expect(await statusOf(signIn(other.email, other.password, "203.0.113.0"))).toBe(200);
});

test("50 failures from one address across accounts limit that address, for every account", async () => {
  const address = newAddress();
  await recordFailures(Array.from({ length: 49 }, (_, i) => ({ email: `sprayed${i}@example.com`, address })));
  expect(await statusOf(signIn("sprayed-last@example.com", "wrong", address))).toBe(401); // the 50th
  const { email, password } = await newUser();
  await expectLimited(await signIn(email, password, address), 15 * 60);
  expect(await statusOf(signIn(email, password, newAddress()))).toBe(200);
});

test("a successful sign-in resets its (account, address) pair", async () => {
  const { email, password } = await newUser();
  const address = newAddress();
  for (let i = 0; i < 4; i++) expect(await statusOf(signIn(email, "wrong", address))).toBe(401);
  expect(await statusOf(signIn(email, password, address))).toBe(200);
  for (let i = 0; i < 5; i++) expect(await statusOf(signIn(email, "wrong", address))).toBe(401);
  await expectLimited(await signIn(email, password, address), 15 * 60);
});

test("an IPv4 address and its IPv4-mapped IPv6 spelling are one address", async () => {
  const { email, password } = await newUser();
  const address = newAddress();
  for (let i = 0; i < 5; i++) {
    const spelling = i % 2 === 0 ? address : `::ffff:${address}`;
    expect(await statusOf(signIn(email, "wrong", spelling))).toBe(401);
  }
  await expectLimited(await signIn(email, password, `::FFFF:${address}`), 15 * 60);
});

test("an IPv6 client counts by its /64: a fresh address in the same /64 is the same client", async () => {
  const { email, password } = await newUser();
  for (let i = 1; i <= 5; i++) expect(await statusOf(signIn(email, "wrong", `2001:db8:7::${i}`))).toBe(401);
  await expectLimited(await signIn(email, password, "2001:db8:7::99"), 15 * 60);
  // Another /64 is another client.
  expect(await statusOf(signIn(email, password, "2001:db8:8::1"))).toBe(200);
  expect(signInKey(email, "2001:DB8:7:0:1:2:3:4").address).toBe("2001:db8:7::/64");
});

describe("two server processes on one database", () => {
  let second: TestApp;
  beforeAll(async () => {
    second = await startTestApp({
      WORKER: "off",
      TRUST_PROXY: "loopback",
      PASSWORD_HASH_N: N,
      DATABASE_URL: app.databaseUrl,
    });
  });
  afterAll(() => second?.close());

  test("share the counts", async () => {
    const { email, password } = await newUser();
    const address = newAddress();
    for (let i = 0; i < 5; i++) {
      const url = i % 2 === 0 ? app.url : second.url;
      expect(await statusOf(signIn(email, "wrong", address, url))).toBe(401);
    }
    await expectLimited(await signIn(email, password, address, app.url), 15 * 60);
    await expectLimited(await signIn(email, password, address, second.url), 15 * 60);
  });
});

test("failures older than the longest window (an hour) are deleted as attempts come in", async () => {
  const stale = Array.from({ length: 30 }, (_, i) => ({ email: `gone${i}@example.com`, address: `192.0.2.${i}` }));
  await recordFailures(stale, "61 minutes");
  await recordFailures([{ email: "kept@example.com", address: "192.0.2.200" }], "59 minutes");
  expect(await statusOf(signIn("someone@example.com", "wrong", newAddress()))).toBe(401);
  const { rows } = await app.app.services.pool.query<{ email: string }>(
    "SELECT email FROM sign_in_failures WHERE at < now() - interval '50 minutes'",
  );
  expect(rows.map((r) => r.email)).toEqual(["kept@example.com"]);
});

test("attempts racing for the last places of a limit: exactly the limit's worth get through", async () => {
  const key = signInKey("raced@example.com", newAddress());
  const outcomes = await Promise.allSettled(
    Array.from({ length: 12 }, () => reserveSignInAttempt(app.app.services.pool, key)),
  );
  expect(outcomes.filter((o) => o.status === "fulfilled")).toHaveLength(5);
  for (const outcome of outcomes.filter((o) => o.status === "rejected")) {
    expect(outcome.reason).toBeInstanceOf(RateLimitedError);
  }
});
