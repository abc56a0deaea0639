// The built client in Chromium under production's security headers: the
// Content-Security-Policy blocks nothing the app needs (no violation on any
// page), and sign-in and a job enqueue pass the cross-site guard as the
// browser sends them (Origin, Sec-Fetch-Site: same-origin, JSON).
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { chromiumOrSkip, launch, screenshot, watchConsole } from "./browser.js";

const chromiumPath = chromiumOrSkip();

const PASSWORD = "production headers pass";

describe.skipIf(!chromiumPath)("production headers in Chromium", () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let consoleErrors: string[];
  const violations: string[] = [];

  beforeAll(async () => {
    app = await startTestApp(
      { NODE_ENV: "production", SMTP_URL: "smtp://127.0.0.1:9", WORKER: "off" },
      { client: "static" },
    );
    await upsertUserWithPassword(app.app.services.db, "csp@example.com", PASSWORD, "admin");
    browser = await launch(chromiumPath as string);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    consoleErrors = watchConsole(page);
    await page.exposeFunction("reportViolation", (text: string) => violations.push(text));
    await page.addInitScript(() => {
      document.addEventListener("securitypolicyviolation", (event) => {
        (window as unknown as { reportViolation: (t: string) => void }).reportViolation(
          `${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}:${event.columnNumber} ${event.sample}`,
        );
      });
    });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  test("the page is served with the CSP, and signing in and enqueueing work under it", async () => {
    const response = await page.goto(app.url);
    expect(response?.headers()["content-security-policy"]).toContain("script-src 'self'");
    await page.getByLabel("Email").fill("csp@example.com");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Jobs" }).waitFor();

    await page.goto(`${app.url}/#/new`);
    await page.getByLabel("To", { exact: true }).fill("grace@example.com");
    await page.getByLabel("Subject").fill("Under the CSP");
    await page.getByLabel("Body", { exact: true }).fill("Sent by Chromium");
    await page.getByRole("button", { name: "Start job" }).click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    await page.locator(".page-head .badge", { hasText: "pending" }).waitFor();

    for (const route of ["#/jobs", "#/overview", "#/dlq", "#/webhooks", "#/schedules", "#/workflows"]) {
      await page.goto(`${app.url}/${route}`);
      await page.locator("main h1, main h2").first().waitFor();
    }
    await screenshot(page, "production-csp");
    expect(violations).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
