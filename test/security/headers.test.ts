// In production every response carries the security headers: tRPC, REST, the
// built client, a 404 and an error.
import { afterAll, beforeAll, expect, test } from "vitest";
import { CONTENT_SECURITY_POLICY } from "../../server/security/headers.js";
import { startTestApp, type TestApp } from "../support/app.js";

let production: TestApp;
let development: TestApp;
beforeAll(async () => {
  production = await startTestApp({ WORKER: "off", NODE_ENV: "production", SMTP_URL: "smtp://127.0.0.1:9" });
  development = await startTestApp({ WORKER: "off" });
});
afterAll(async () => {
  await production?.close();
  await development?.close();
});

const paths = ["/healthz", "/trpc/auth.me", "/trpc/jobs.list", "/api/jobs/not-a-uuid", "/no/such/page"];

test.each(paths)("production: %s carries CSP, nosniff and no-referrer", async (path) => {
  const response = await fetch(`${production.url}${path}`);
  const csp = response.headers.get("content-security-policy") ?? "";
  expect(csp).toBe(CONTENT_SECURITY_POLICY);
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(response.headers.get("x-content-type-options")).toBe("nosniff");
  expect(response.headers.get("referrer-policy")).toBe("no-referrer");
  // Plain HTTP, no trusted proxy: HSTS would be ignored, and is not sent.
  expect(response.headers.get("strict-transport-security")).toBeNull();
});

test("development sends no CSP (Vite's hot reload injects inline scripts)", async () => {
  const response = await fetch(`${development.url}/healthz`);
  expect(response.headers.get("content-security-policy")).toBeNull();
});
