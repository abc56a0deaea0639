// Cross-site request forgery: a cookie-authenticated mutation from another
// origin (another port of the same host counts), or one a browser marks
// cross-site or same-site, is refused with 403 before it runs; a body that is
// not application/json (an HTML form) gets 415; bearer calls are exempt.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { emailItem } from "../support/fixtures.js";

let app: TestApp;
let cookie: string;
let otherPort: string;

beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
  await upsertUserWithPassword(app.app.services.db, "victim@example.com", "victim-pass-1", "user");
  const response = await fetch(`${app.url}/trpc/auth.signIn`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ json: { email: "victim@example.com", password: "victim-pass-1" } }),
  });
  cookie = (response.headers.get("set-cookie") ?? "").split(";")[0] as string;
  expect(cookie).toMatch(/^tj_session=/);
  otherPort = `http://127.0.0.1:${app.app.port === 65535 ? 65534 : app.app.port + 1}`;
});
afterAll(() => app?.close());

async function signedIn(): Promise<boolean> {
  const response = await fetch(`${app.url}/trpc/auth.me`, { headers: { cookie } });
  const body = (await response.json()) as { result: { data: { json: unknown } } };
  return body.result.data.json !== null;
}

async function jobCount(): Promise<number> {
  const { rows } = await app.app.services.pool.query<{ n: string }>("SELECT count(*) AS n FROM jobs");
  return Number(rows[0]?.n);
}

function post(path: string, headers: Record<string, string>, body: BodyInit = JSON.stringify({ json: null })) {
  return fetch(`${app.url}/trpc/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", cookie, ...headers },
    body,
  });
}

async function expectTrpcError(response: Response, status: number, code: string) {
  expect(response.status).toBe(status);
  const body = (await response.json()) as { error: { json: { data: { code: string } } } };
  expect(body.error.json.data.code).toBe(code);
}

describe("a cookie-authenticated mutation", () => {
  test("from another port of the same host (Origin) is 403 FORBIDDEN and does not run", async () => {
    await expectTrpcError(await post("auth.signOut", { origin: otherPort }), 403, "FORBIDDEN");
    expect(await signedIn()).toBe(true);
  });

  test("as an HTML form would send it (multipart, no Origin) is 415 and does not run", async () => {
    const form = new FormData();
    form.set("x", "1");
    const response = await fetch(`${app.url}/trpc/auth.signOut`, { method: "POST", headers: { cookie }, body: form });
    await expectTrpcError(response, 415, "UNSUPPORTED_MEDIA_TYPE");
    const plain = await post("auth.signOut", { "content-type": "text/plain" });
    await expectTrpcError(plain, 415, "UNSUPPORTED_MEDIA_TYPE");
    expect(await signedIn()).toBe(true);
  });

  test.each(["cross-site", "same-site"])("marked Sec-Fetch-Site: %s is 403 and does not run", async (site) => {
    await expectTrpcError(await post("auth.signOut", { "sec-fetch-site": site }), 403, "FORBIDDEN");
    expect(await signedIn()).toBe(true);
  });

  test("an Origin of null (a sandboxed page) is 403", async () => {
    await expectTrpcError(await post("auth.signOut", { origin: "null" }), 403, "FORBIDDEN");
  });

  test("jobs.enqueue on the fast path from another origin is 403 and enqueues nothing", async () => {
    const before = await jobCount();
    const response = await post("jobs.enqueue", { origin: otherPort }, JSON.stringify({ json: emailItem({}) }));
    await expectTrpcError(response, 403, "FORBIDDEN");
    const batched = await fetch(`${app.url}/trpc/jobs.enqueue?batch=1`, {
      method: "POST",
      headers: { "content-type": "application/json", cookie, origin: otherPort },
      body: JSON.stringify({ 0: { json: emailItem({}) } }),
    });
    expect(batched.status).toBe(403);
    expect(await jobCount()).toBe(before);
  });

  test("a login from another origin is refused too (no session planted by another site)", async () => {
    const response = await fetch(`${app.url}/trpc/auth.signIn`, {
      method: "POST",
      headers: { "content-type": "application/json", origin: otherPort },
      body: JSON.stringify({ json: { email: "victim@example.com", password: "victim-pass-1" } }),
    });
    await expectTrpcError(response, 403, "FORBIDDEN");
    expect(response.headers.get("set-cookie")).toBeNull();
  });

  test("from the app's own origin (Sec-Fetch-Site: same-origin) runs", async () => {
    const before = await jobCount();
    const response = await post(
      "jobs.enqueue",
      { origin: app.url, "sec-fetch-site": "same-origin" },
      JSON.stringify({ json: emailItem({}) }),
    );
    expect(response.status).toBe(200);
    expect(await jobCount()).toBe(before + 1);
  });

  test("queries are not affected (a cross-origin read is the browser's same-origin policy's job)", async () => {
    const response = await fetch(`${app.url}/trpc/auth.me`, { headers: { cookie, origin: otherPort } });
    expect(response.status).toBe(200);
  });
});

describe("a bearer-token mutation", () => {
  test("is exempt: any Origin, Sec-Fetch-Site or content type goes through", async () => {
    const token = await app.token("api-client@example.com");
    const before = await jobCount();
    const response = await fetch(`${app.url}/trpc/jobs.enqueue`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${token}`,
        origin: "https://elsewhere.example",
        "sec-fetch-site": "cross-site",
      },
      body: JSON.stringify({ json: emailItem({}) }),
    });
    expect(response.status).toBe(200);
    expect(await jobCount()).toBe(before + 1);
  });
});

describe("with PUBLIC_URL set", () => {
  let behindProxy: TestApp;
  beforeAll(async () => {
    behindProxy = await startTestApp({ WORKER: "off", PUBLIC_URL: "https://jobs.example.com" });
    await upsertUserWithPassword(behindProxy.app.services.db, "pub@example.com", "pub-pass-12", "user");
  });
  afterAll(() => behindProxy?.close());

  const signIn = (origin: string) =>
    fetch(`${behindProxy.url}/trpc/auth.signIn`, {
      method: "POST",
      headers: { "content-type": "application/json", origin },
      body: JSON.stringify({ json: { email: "pub@example.com", password: "pub-pass-12" } }),
    });

  test("PUBLIC_URL's origin is the app's origin, whatever the Host header says", async () => {
    expect((await signIn("https://jobs.example.com")).status).toBe(200);
    expect((await signIn(behindProxy.url)).status).toBe(403);
  });
});

describe("under npm run dev (development, PUBLIC_URL http://localhost:<port>)", () => {
  let dev: TestApp;
  let port: number;
  beforeAll(async () => {
    dev = await startTestApp({ WORKER: "off", NODE_ENV: "development" });
    port = dev.app.port;
    dev.app.services.config.PUBLIC_URL = `http://localhost:${port}`; // as server/main.ts sets it
    await upsertUserWithPassword(dev.app.services.db, "newcomer@example.com", "newcomer-pass", "user");
  });
  afterAll(() => dev?.close());

  const signIn = (origin: string, host: string) =>
    fetch(`${dev.url}/trpc/auth.signIn`, {
      method: "POST",
      headers: { "content-type": "application/json", origin, host },
      body: JSON.stringify({ json: { email: "newcomer@example.com", password: "newcomer-pass" } }),
    });

  test("the dashboard opened at http://127.0.0.1:<port> or http://localhost:<port> can sign in", async () => {
    expect((await signIn(`http://127.0.0.1:${port}`, `127.0.0.1:${port}`)).status).toBe(200);
    expect((await signIn(`http://localhost:${port}`, `127.0.0.1:${port}`)).status).toBe(200);
  });

  test("a name that only resolves to loopback (DNS rebinding) is still refused", async () => {
    expect((await signIn(`http://rebind.example:${port}`, `rebind.example:${port}`)).status).toBe(403);
  });

  test("another loopback port is still another origin", async () => {
    expect((await signIn(`http://127.0.0.1:${port + 1}`, `127.0.0.1:${port}`)).status).toBe(403);
  });
});
