// Password sign-in: an HttpOnly session cookie the API accepts, sign-out that
// revokes it, and sessions that expire.
import { afterAll, beforeAll, expect, test } from "vitest";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { rejection } from "../support/fixtures.js";

let app: TestApp;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
  await upsertUserWithPassword(app.app.services.db, "pat@example.com", "s3cret-pass", "user");
});
afterAll(() => app?.close());

async function signIn(email: string, password: string) {
  return fetch(`${app.url}/trpc/auth.signIn`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ json: { email, password } }),
  });
}

const me = (cookie?: string) =>
  fetch(`${app.url}/trpc/auth.me`, { headers: cookie ? { cookie } : {} }).then(
    async (r) => ((await r.json()) as { result: { data: { json: unknown } } }).result.data.json,
  );

test("signing in sets an HttpOnly session cookie that authenticates API calls", async () => {
  const response = await signIn("pat@example.com", "s3cret-pass");
  expect(response.status).toBe(200);
  const setCookie = response.headers.get("set-cookie") ?? "";
  expect(setCookie).toMatch(/^tj_session=tj_[\w-]+;/);
  expect(setCookie).toContain("HttpOnly");
  expect(setCookie).toContain("SameSite=Lax");
  const cookie = setCookie.split(";")[0] as string;
  expect(await me(cookie)).toMatchObject({ email: "pat@example.com", role: "user" });
  expect(await me()).toBeNull();
});

test("a wrong password or an unknown email is UNAUTHORIZED with the same message, and sets no cookie", async () => {
  const wrong = await signIn("pat@example.com", "nope");
  const unknown = await signIn("nobody@example.com", "nope");
  for (const response of [wrong, unknown]) {
    expect(response.status).toBe(401);
    expect(response.headers.get("set-cookie")).toBeNull();
    expect(JSON.stringify(await response.json())).toContain("Wrong email or password");
  }
});

test("passwords are stored hashed with scrypt, never in clear", async () => {
  const user = await app.app.services.db.user.findUniqueOrThrow({ where: { email: "pat@example.com" } });
  expect(user.passwordHash).toMatch(/^scrypt\$16384\$8\$1\$/);
  expect(user.passwordHash).not.toContain("s3cret-pass");
});

test("signing out revokes the session and clears the cookie", async () => {
  const cookie = ((await signIn("pat@example.com", "s3cret-pass")).headers.get("set-cookie") ?? "").split(
    ";",
  )[0] as string;
  const out = await fetch(`${app.url}/trpc/auth.signOut`, {
    method: "POST",
    headers: { cookie, "content-type": "application/json" },
    body: JSON.stringify({ json: null }),
  });
  expect(out.status).toBe(200);
  expect(out.headers.get("set-cookie")).toMatch(/^tj_session=; Max-Age=0/);
  expect(await me(cookie)).toBeNull();
});

test("an expired session is refused", async () => {
  const cookie = ((await signIn("pat@example.com", "s3cret-pass")).headers.get("set-cookie") ?? "").split(
    ";",
  )[0] as string;
  await app.app.services.pool.query(
    "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE kind = 'session'",
  );
  expect(await me(cookie)).toBeNull();
  const error = await rejection(
    fetch(`${app.url}/trpc/jobs.list`, { headers: { cookie } }).then(async (r) => {
      if (r.status !== 200) throw Object.assign(new Error(String(r.status)), { data: { httpStatus: r.status } });
    }),
  );
  expect(error.data?.httpStatus).toBe(401);
});

test("signIn validates its input", async () => {
  const response = await signIn("not-an-email", "x");
  expect(response.status).toBe(400);
});
