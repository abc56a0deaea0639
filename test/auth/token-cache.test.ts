// The in-process token cache: a sign-out here is refused at once, a revocation
// made elsewhere (here: straight in SQL) is seen within AUTH_CACHE_TTL_MS, a
// session never outlives its expiry, and unknown tokens are not remembered.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { authenticate, hashToken, issueSession, issueToken, TokenCache } from "../../server/auth/tokens.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { rejection, sleep } from "../support/fixtures.js";

describe("over HTTP, with a TTL far longer than the test", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off", AUTH_CACHE_TTL_MS: "60000" });
  });
  afterAll(() => app?.close());

  test("signing out refuses the token at once, in tRPC and REST", async () => {
    const token = await app.token("sign-out@example.com");
    const client = app.client(token);
    expect(await client.auth.me.query()).toMatchObject({ email: "sign-out@example.com" });
    const { jobId } = await client.jobs.enqueue.mutate({
      type: "email",
      payload: { to: "a@example.com", subject: "Hi", body: "Body" },
    });
    const rest = () => fetch(`${app.url}/api/jobs/${jobId}`, { headers: { authorization: `Bearer ${token}` } });
    expect((await rest()).status).toBe(200);

    await client.auth.signOut.mutate();

    expect(await client.auth.me.query()).toBeNull();
    expect(await rejection(client.jobs.list.query({}))).toMatchObject({ data: { code: "UNAUTHORIZED" } });
    expect((await rest()).status).toBe(401);
  });

  test("a token deleted in SQL is still served from the cache: the lookup is skipped", async () => {
    const token = await app.token("deleted@example.com");
    const client = app.client(token);
    expect(await client.auth.me.query()).toMatchObject({ email: "deleted@example.com" });
    await app.app.services.pool.query("DELETE FROM api_tokens WHERE token_hash = $1", [hashToken(token)]);
    expect(await client.auth.me.query()).toMatchObject({ email: "deleted@example.com" });
  });
});

describe("authenticate with a TokenCache", () => {
  let t: TestDb;
  beforeAll(async () => {
    t = await openTestDb();
  });
  afterAll(() => t?.close());

  const deleteToken = (token: string) =>
    t.pool.query("DELETE FROM api_tokens WHERE token_hash = $1", [hashToken(token)]);

  test("a revocation made behind its back is seen once the TTL has passed", async () => {
    const cache = new TokenCache(300);
    const token = await issueToken(t.db, "ttl@example.com");
    expect(await authenticate(t.db, token, cache)).toMatchObject({ email: "ttl@example.com" });
    await deleteToken(token);
    expect(await authenticate(t.db, token, cache)).toMatchObject({ email: "ttl@example.com" });
    await sleep(350);
    expect(await authenticate(t.db, token, cache)).toBeNull();
  });

  test("TTL 0 looks the token up on every call", async () => {
    const cache = new TokenCache(0);
    const token = await issueToken(t.db, "no-cache@example.com");
    expect(await authenticate(t.db, token, cache)).toMatchObject({ email: "no-cache@example.com" });
    await deleteToken(token);
    expect(await authenticate(t.db, token, cache)).toBeNull();
  });

  test("a cached session is refused when it expires, however long the TTL", async () => {
    const cache = new TokenCache(60_000);
    const user = await t.db.user.create({ data: { email: "expiring-session@example.com" } });
    const token = await issueSession(t.db, user.id);
    await t.pool.query("UPDATE api_tokens SET expires_at = now() + interval '300 milliseconds' WHERE token_hash = $1", [
      hashToken(token),
    ]);
    expect(await authenticate(t.db, token, cache)).toMatchObject({ id: user.id });
    await sleep(400);
    expect(await authenticate(t.db, token, cache)).toBeNull();
  });

  test("an unknown token is not remembered: once issued, it works at once", async () => {
    const cache = new TokenCache(60_000);
    const user = await t.db.user.create({ data: { email: "late@example.com" } });
    const token = "tj_not-issued-yet";
    expect(await authenticate(t.db, token, cache)).toBeNull();
    await t.db.apiToken.create({ data: { userId: user.id, tokenHash: hashToken(token) } });
    expect(await authenticate(t.db, token, cache)).toMatchObject({ id: user.id });
  });

  test("a lookup that raced a revocation is not stored", async () => {
    const cache = new TokenCache(60_000);
    const user = { id: "u", email: "race@example.com", role: "user" as const };
    const before = cache.generation; // the lookup starts...
    cache.forget("hash"); // ...a sign-out revokes the token meanwhile...
    cache.set("hash", user, null, before); // ...and the lookup's stale answer arrives.
    expect(cache.get("hash")).toBeUndefined();
    cache.set("hash", user, null, cache.generation);
    expect(cache.get("hash")).toEqual(user);
  });

  test("holds at most maxEntries, dropping the oldest", () => {
    const cache = new TokenCache(60_000, 2);
    const user = (n: number) => ({ id: `u${n}`, email: `${n}@example.com`, role: "user" as const });
    for (const n of [1, 2, 3]) cache.set(`h${n}`, user(n), null, cache.generation);
    expect(cache.get("h1")).toBeUndefined();
    expect(cache.get("h2")).toEqual(user(2));
    expect(cache.get("h3")).toEqual(user(3));
  });
});
