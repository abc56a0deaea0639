// The dashboard in a real Chromium against an app with MAX_STREAMS_PER_USER=1:
// the first tab goes live, a second tab of the same session is refused its
// stream and says "Too many open tabs" rather than the generic failure banner;
// once the first tab is closed, reloading the second brings it live.
import type { Browser, BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { streamLimiter } from "../../server/limits/streams.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { chromiumOrSkip, launch, screenshot } from "./browser.js";

const chromiumPath = chromiumOrSkip();

const PASSWORD = "correct horse battery staple";

describe.skipIf(!chromiumPath)("too many open tabs, in Chromium", () => {
  let app: TestApp;
  let browser: Browser;
  let context: BrowserContext;

  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off", MAX_STREAMS_PER_USER: "1" }, { client: "static" });
    await upsertUserWithPassword(app.app.services.db, "tabs@example.com", PASSWORD, "admin");
    browser = await launch(chromiumPath as string);
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  test("a second tab says Too many open tabs; with the first closed, a reload goes live", async () => {
    const first = await context.newPage();
    await first.goto(app.url);
    await first.getByLabel("Email").fill("tabs@example.com");
    await first.getByLabel("Password").fill(PASSWORD);
    await first.getByRole("button", { name: "Sign in" }).click();
    await first.getByText("Live", { exact: true }).waitFor();

    const second: Page = await context.newPage();
    await second.goto(app.url);
    const banner = second.getByRole("status").filter({ hasText: "Too many open tabs" });
    await banner.waitFor({ timeout: 15_000 });
    expect(await banner.textContent()).not.toContain("Live updates stopped");
    await screenshot(second, "too-many-tabs");

    await first.close();
    await eventually(async () => streamLimiter(app.app.services).count() === 0);
    await second.reload();
    await second.getByText("Live", { exact: true }).waitFor();
  });
});
