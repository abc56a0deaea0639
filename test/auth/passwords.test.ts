// Password hashes: scrypt at N=2^17, r=8, p=1 by default (PASSWORD_HASH_N),
// redone at the next successful sign-in when made with other parameters; one
// derivation per sign-in, unknown accounts and accounts without a password
// included; at most 2 derivations at once, the sign-in beyond answers 429.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import {
  type Derivations,
  derivations,
  hashPassword,
  MAX_CONCURRENT_DERIVATIONS,
  verifyPasswordInSlot,
} from "../../server/auth/passwords.js";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { loadConfig } from "../../server/config.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { signInFrom, statusOf } from "../support/sign-in.js";

const FORMAT = /^scrypt\$(\d+)\$8\$1\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

describe("hash format", () => {
  test("PASSWORD_HASH_N is 2^17 unless set, a power of two from 2^14 to 2^20", () => {
    expect(loadConfig({}).PASSWORD_HASH_N).toBe(131_072);
    expect(loadConfig({ PASSWORD_HASH_N: "16384" }).PASSWORD_HASH_N).toBe(16_384);
    for (const bad of ["8192", "20000", "2097152", "lots"]) {
      expect(() => loadConfig({ PASSWORD_HASH_N: bad }), bad).toThrow(/PASSWORD_HASH_N/);
    }
  });

  test("a new hash at the default is scrypt$131072$8$1$<16-byte salt>$<32-byte hash>, and verifies", async () => {
    const stored = await hashPassword("correct horse", loadConfig({}).PASSWORD_HASH_N);
    const [, n, salt, hash] = FORMAT.exec(stored) ?? [];
    expect(n).toBe("131072");
    expect(Buffer.from(salt ?? "", "base64")).toHaveLength(16);
    expect(Buffer.from(hash ?? "", "base64")).toHaveLength(32);
    expect(stored).not.toContain("correct horse");
    expect(await verifyPasswordInSlot("correct horse", stored, 131_072)).toEqual({ valid: true, stale: false });
    expect(await verifyPasswordInSlot("wrong horse", stored, 131_072)).toEqual({ valid: false, stale: false });
  });
});

const N = 32_768;
let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off", TRUST_PROXY: "loopback", PASSWORD_HASH_N: String(N) });
});
afterAll(() => app?.close());

let addresses = 0;
function signIn(email: string, password: string, address = `192.0.2.${++addresses}`) {
  return signInFrom(app.url, email, password, address);
}

const storedHash = async (email: string) =>
  (await app.app.services.db.user.findUniqueOrThrow({ where: { email } })).passwordHash;

test("a hash made with other parameters is redone with PASSWORD_HASH_N at the next successful sign-in", async () => {
  await upsertUserWithPassword(app.app.services.db, "old@example.com", "old-pass-1", "user", 16_384);
  const old = await storedHash("old@example.com");
  expect(old).toMatch(/^scrypt\$16384\$8\$1\$/);

  expect(await statusOf(signIn("old@example.com", "wrong"))).toBe(401);
  expect(await storedHash("old@example.com")).toBe(old);

  expect(await statusOf(signIn("old@example.com", "old-pass-1"))).toBe(200);
  const renewed = await storedHash("old@example.com");
  expect(FORMAT.exec(renewed ?? "")?.[1]).toBe(String(N));

  expect(await statusOf(signIn("old@example.com", "old-pass-1"))).toBe(200);
  expect(await storedHash("old@example.com")).toBe(renewed); // current: left alone
  expect(await statusOf(signIn("old@example.com", "wrong"))).toBe(401);
});

describe("derivations per sign-in", () => {
  /** The derivations `run` starts, with their parameters. */
  async function derivationsDuring(run: () => Promise<unknown>) {
    const before = derivations.started;
    derivations.last = undefined;
    await run();
    return { count: derivations.started - before, params: derivations.last };
  }

  const current = { n: N, r: 8, p: 1 };

  test("a wrong password runs one, with the current parameters", async () => {
    await upsertUserWithPassword(app.app.services.db, "known@example.com", "known-pass", "user", N);
    expect(await derivationsDuring(() => statusOf(signIn("known@example.com", "wrong")))).toEqual({
      count: 1,
      params: current,
    });
  });

  test("an unknown account runs one, with the same parameters", async () => {
    expect(await derivationsDuring(() => statusOf(signIn("nobody@example.com", "wrong")))).toEqual({
      count: 1,
      params: current,
    });
  });

  test("an account without a password runs one, with the same parameters", async () => {
    await app.token("tokens-only@example.com");
    expect(await derivationsDuring(() => statusOf(signIn("tokens-only@example.com", "anything")))).toEqual({
      count: 1,
      params: current,
    });
  });

  test("a wrong password against an older, cheaper hash also runs one with the current parameters", async () => {
    // Made with N=16384, the app's is 32768: the old hash alone would answer twice as fast as an unknown account.
    await upsertUserWithPassword(app.app.services.db, "dormant@example.com", "dormant-pass", "user", 16_384);
    const run = await derivationsDuring(() => statusOf(signIn("dormant@example.com", "wrong")));
    expect(run).toEqual({ count: 2, params: current });
  });

  test("a limited attempt runs none", async () => {
    const address = "192.0.2.250";
    for (let i = 0; i < 5; i++) expect(await statusOf(signIn("known@example.com", "wrong", address))).toBe(401);
    expect(
      await derivationsDuring(async () =>
        expect(await statusOf(signIn("known@example.com", "known-pass", address))).toBe(429),
      ),
    ).toEqual({ count: 0, params: undefined });
  });
});

describe("at most 2 derivations at once", () => {
  let real: Derivations["implementation"];
  const held: (() => void)[] = [];
  beforeAll(async () => {
    await upsertUserWithPassword(app.app.services.db, "busy@example.com", "busy-pass", "user", N);
    real = derivations.implementation;
    // Each derivation waits until the test lets it go.
    derivations.implementation = async (...args) => {
      await new Promise<void>((resolve) => held.push(resolve));
      return real(...args);
    };
  });
  afterEach(() => {
    for (const release of held.splice(0)) release();
  });
  afterAll(() => {
    derivations.implementation = real;
  });

  test("a sign-in that finds 2 running answers 429 with Retry-After, and is not counted as a failure", async () => {
    expect(MAX_CONCURRENT_DERIVATIONS).toBe(2);
    const first = signIn("a@example.com", "wrong");
    const second = signIn("b@example.com", "wrong");
    await eventually(async () => held.length === 2);
    expect(derivations.running).toBe(2);

    const third = await signIn("busy@example.com", "busy-pass", "192.0.2.251");
    expect(third.status).toBe(429);
    expect(third.headers.get("retry-after")).toBe("1");
    const body = (await third.json()) as { error: { json: { message: string; data: { retryAfterMs: number } } } };
    expect(body.error.json.message).toBe("Too many sign-ins at once: try again in a moment");
    expect(body.error.json.data.retryAfterMs).toBe(1000);
    const { rows } = await app.app.services.pool.query(
      "SELECT count(*)::int AS n FROM sign_in_failures WHERE address = '192.0.2.251'",
    );
    expect(rows[0].n).toBe(0);

    for (const release of held.splice(0)) release();
    expect(await statusOf(first)).toBe(401);
    expect(await statusOf(second)).toBe(401);
    expect(derivations.running).toBe(0);
  });

  test("with both slots busy, a sign-in is refused before it touches the database (a flood cannot take the pool)", async () => {
    const first = signIn("c@example.com", "wrong");
    const second = signIn("d@example.com", "wrong");
    await eventually(async () => held.length === 2);
    // Hold the account's lock: a sign-in that went to the database first would wait here.
    const blocker = await app.app.services.pool.connect();
    try {
      await blocker.query("BEGIN");
      await blocker.query("SELECT pg_advisory_xact_lock(1, hashtext('busy@example.com'))");
      const refused = await signIn("busy@example.com", "busy-pass", "192.0.2.252");
      expect(refused.status).toBe(429);
      await refused.body?.cancel();
    } finally {
      await blocker.query("ROLLBACK");
      blocker.release();
    }
    for (const release of held.splice(0)) release();
    expect(await statusOf(first)).toBe(401);
    expect(await statusOf(second)).toBe(401);
  });
});
