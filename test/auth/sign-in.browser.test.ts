// The sign-in page in a real Chromium: a limited sign-in (429) says when to
// come back, from the answer's retryAfterMs.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { derivations } from "../../server/auth/passwords.js";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { chromiumOrSkip, launch, screenshot } from "../browser/browser.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";

const chromiumPath = chromiumOrSkip();
const PASSWORD = "limited horse battery";

describe.skipIf(!chromiumPath)("sign-in page in Chromium", () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off" }, { client: "static" });
    await upsertUserWithPassword(app.app.services.db, "limited@example.com", PASSWORD, "user", 16_384);
    browser = await launch(chromiumPath as string);
    page = await browser.newPage();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  test("after 5 wrong passwords, the right one is refused with 'try again in 15 min'", async () => {
    await page.goto(app.url);
    await page.getByLabel("Email").fill("limited@example.com");
    for (let i = 1; i <= 5; i++) {
      await page.getByLabel("Password").fill(`wrong-${i}`);
      // One attempt at a time: each waits for the answer to the one before.
      const answered = page.waitForResponse((r) => r.url().includes("/trpc/auth.signIn"));
      await page.getByRole("button", { name: "Sign in" }).click();
      expect((await answered).status()).toBe(401);
    }
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "Too many sign-in attempts: try again in 15 min" }).waitFor();
    await screenshot(page, "sign-in-limited");
  });

  test("with every derivation slot busy, the page says to try again in 1 s", async () => {
    const real = derivations.implementation;
    const held: (() => void)[] = [];
    derivations.implementation = async (...args) => {
      await new Promise<void>((resolve) => held.push(resolve));
      return real(...args);
    };
    try {
      const busy = ["a", "b"].map((name) =>
        fetch(`${app.url}/trpc/auth.signIn`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ json: { email: `${name}@example.com`, password: "x" } }),
        }),
      );
      await eventually(async () => held.length === 2);
      await page.goto(app.url);
      await page.getByLabel("Email").fill("someone@example.com");
      await page.getByLabel("Password").fill(PASSWORD);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").filter({ hasText: "Too many sign-in attempts: try again in 1 s" }).waitFor();
      for (const release of held.splice(0)) release();
      await Promise.all(busy);
    } finally {
      for (const release of held.splice(0)) release();
      derivations.implementation = real;
    }
  });
});
