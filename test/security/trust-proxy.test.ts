// TRUST_PROXY: parsed strictly (a hop count as a number, never the string
// Express would read as an address), and with a trusted proxy's
// X-Forwarded-Proto: https the session cookie is Secure and HSTS is sent.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { loadConfig } from "../../server/config.js";
import { startTestApp, type TestApp } from "../support/app.js";

describe("parsing TRUST_PROXY", () => {
  test.each([
    [undefined, false],
    ["false", false],
    ["0", false],
    ["1", 1],
    ["3", 3],
    ["true", true],
    ["loopback", ["loopback"]],
    ["10.0.0.1, 10.1.0.0/16,uniquelocal", ["10.0.0.1", "10.1.0.0/16", "uniquelocal"]],
    ["::1,fd00::/8", ["::1", "fd00::/8"]],
  ])("%s -> %j", (raw, expected) => {
    expect(loadConfig(raw === undefined ? {} : { TRUST_PROXY: raw }).TRUST_PROXY).toEqual(expected);
  });

  test.each([
    "yes-please",
    "10.0.0.300",
    "10.0.0.0/99",
    "loopback,nonsense",
    ",",
    "1,2",
    "1.5",
    "10.0.0.1/8/8",
    "::1/129",
  ])("%s is refused naming TRUST_PROXY", (raw) => {
    expect(() => loadConfig({ TRUST_PROXY: raw })).toThrow(/TRUST_PROXY/);
  });
});

async function signInCookie(app: TestApp, headers: Record<string, string>) {
  const response = await fetch(`${app.url}/trpc/auth.signIn`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ json: { email: "proxy@example.com", password: "proxy-pass-1" } }),
  });
  expect(response.status).toBe(200);
  return {
    setCookie: response.headers.get("set-cookie") ?? "",
    hsts: response.headers.get("strict-transport-security"),
  };
}

describe.each([
  ["TRUST_PROXY=1 (one hop)", "1", true],
  ["TRUST_PROXY=loopback", "loopback", true],
  ["TRUST_PROXY=127.0.0.1/32", "127.0.0.1/32", true],
  ["no TRUST_PROXY", "", false],
  ["TRUST_PROXY=10.9.9.9 (not this proxy)", "10.9.9.9", false],
])("behind a TLS proxy, %s", (_name, trustProxy, trusted) => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({
      WORKER: "off",
      NODE_ENV: "production",
      SMTP_URL: "smtp://127.0.0.1:9",
      TRUST_PROXY: trustProxy,
    });
    await upsertUserWithPassword(app.app.services.db, "proxy@example.com", "proxy-pass-1", "user");
  });
  afterAll(() => app?.close());

  test(`the session cookie is ${trusted ? "" : "not "}Secure, and HSTS is ${trusted ? "" : "not "}sent`, async () => {
    const { setCookie, hsts } = await signInCookie(app, { "x-forwarded-proto": "https" });
    expect(setCookie).toMatch(/^tj_session=/);
    expect(setCookie.includes("; Secure")).toBe(trusted);
    expect(hsts).toBe(trusted ? "max-age=31536000" : null);
  });

  test("a plain-HTTP request through it gets neither", async () => {
    const { setCookie, hsts } = await signInCookie(app, { "x-forwarded-proto": "http" });
    expect(setCookie).not.toContain("Secure");
    expect(hsts).toBeNull();
  });
});
