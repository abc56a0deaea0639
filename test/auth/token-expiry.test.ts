// Tokens issued with an expiry stop working when it passes; without one they never expire.
import { afterAll, beforeAll, expect, test } from "vitest";
import { authenticate, issueToken, parseTokenLifetime } from "../../server/auth/tokens.js";
import { openTestDb, type TestDb } from "../support/db.js";

let database: TestDb;
beforeAll(async () => {
  database = await openTestDb();
});
afterAll(() => database?.close());

test.each([
  ["30d", 30 * 24 * 3600_000],
  ["12h", 12 * 3600_000],
  ["45m", 45 * 60_000],
])("%s is %i ms", (text, ms) => {
  expect(parseTokenLifetime(text)).toBe(ms);
});

test.each(["", "0d", "-1h", "1.5h", "2w", "h", "10", "1000000d"])("%j is refused", (text) => {
  expect(parseTokenLifetime(text)).toBeUndefined();
});

test("a token past its expiry is refused; one without expiry works", async () => {
  const expired = await issueToken(database.db, "old@example.com", { expiresAt: new Date(Date.now() - 1000) });
  const current = await issueToken(database.db, "old@example.com", { expiresAt: new Date(Date.now() + 3600_000) });
  const forever = await issueToken(database.db, "old@example.com");
  expect(await authenticate(database.db, expired)).toBeNull();
  expect(await authenticate(database.db, current)).toMatchObject({ email: "old@example.com" });
  expect(await authenticate(database.db, forever)).toMatchObject({ email: "old@example.com" });
  const rows = await database.db.apiToken.findMany({ where: { user: { email: "old@example.com" } } });
  expect(rows.filter((r) => r.expiresAt === null)).toHaveLength(1);
});
