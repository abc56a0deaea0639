// What every page of the built client does in Chromium, in production mode
// (security headers on): the tab's title names the page ("<Page> · Typed Jobs"),
// the favicon the page links to is served (no request answers 404), and a
// failed submit moves focus to the first invalid field.
import type { Browser, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { chromiumOrSkip, launch, watchConsole } from "./browser.js";

const chromiumPath = chromiumOrSkip();

const PASSWORD = "titles and focus";

describe.skipIf(!chromiumPath)("page basics in Chromium", () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let consoleErrors: string[];
  const responses: { url: string; status: number }[] = [];

  beforeAll(async () => {
    app = await startTestApp(
      { NODE_ENV: "production", SMTP_URL: "smtp://127.0.0.1:9", WORKER: "off" },
      { client: "static" },
    );
    await upsertUserWithPassword(app.app.services.db, "titles@example.com", PASSWORD, "admin");
    browser = await launch(chromiumPath as string);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    consoleErrors = watchConsole(page);
    page.on("response", (response) => responses.push({ url: response.url(), status: response.status() }));
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  const titleIs = (title: string) => page.waitForFunction((t) => document.title === t, title, { timeout: 5000 });

  test("the favicon the page links to is an SVG served with a 200, under the CSP", async () => {
    const response = await page.goto(app.url);
    expect(response?.headers()["content-security-policy"]).toBeDefined();
    const href = await page.evaluate(() => document.querySelector<HTMLLinkElement>('link[rel="icon"]')?.href);
    expect(href).toBe(`${app.url}/favicon.svg`);
    const favicon = await fetch(href as string);
    expect(favicon.status).toBe(200);
    expect(favicon.headers.get("content-type")).toContain("image/svg+xml");
    expect(await favicon.text()).toContain("<svg");
    // And from the page itself, as its own origin fetches it.
    const inPage = await page.evaluate(async (url) => {
      const r = await fetch(url);
      return { status: r.status, type: r.headers.get("content-type") };
    }, href as string);
    expect(inPage).toMatchObject({ status: 200, type: expect.stringContaining("image/svg+xml") });
  });

  test('signed out the title is "Sign in · Typed Jobs"; signed in, "<Page> · Typed Jobs" on every route', async () => {
    await page.goto(app.url);
    await page.getByLabel("Email").waitFor();
    await titleIs("Sign in · Typed Jobs");
    await page.getByLabel("Email").fill("titles@example.com");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Jobs" }).waitFor();
    await titleIs("Jobs · Typed Jobs");

    const client = app.client(await app.token("titles@example.com"));
    const { jobId } = await client.jobs.enqueue.mutate({
      type: "email",
      payload: { to: "grace@example.com", subject: "Titled", body: "b" },
    });
    const { workflowId } = await client.workflows.start.mutate({
      name: "export_then_email",
      input: { format: "csv", to: "grace@example.com" },
    });
    const expected: [string, string][] = [
      ["#/jobs", "Jobs"],
      [`#/jobs/${jobId}`, `Job ${jobId.slice(0, 8)}`],
      ["#/new", "New job"],
      ["#/workflows", "Workflows"],
      [`#/workflows/${workflowId}`, `Workflow ${workflowId.slice(0, 8)}`],
      ["#/dlq", "Dead letters"],
      ["#/overview", "Overview"],
      ["#/webhooks", "Webhooks"],
      ["#/schedules", "Schedules"],
      ["#/mail", "Mail"],
    ];
    const seen: Record<string, string> = {};
    for (const [hash, title] of expected) {
      await page.goto(`${app.url}/${hash}`);
      await page.locator("main h1").first().waitFor();
      await titleIs(`${title} · Typed Jobs`).catch(() => {});
      seen[hash] = await page.title();
    }
    expect(seen).toEqual(Object.fromEntries(expected.map(([hash, title]) => [hash, `${title} · Typed Jobs`])));
    // Moving between pages by the navigation (a hash change, no reload) updates it too.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Dead letters" }).click();
    await titleIs("Dead letters · Typed Jobs");
  });

  test("a failed submit moves focus to the first invalid field (client checks and the server's refusal)", async () => {
    await page.goto(`${app.url}/#/new`);
    await page.getByLabel("To", { exact: true }).fill("not an email");
    await page.getByLabel("Subject").fill("Focus");
    await page.getByLabel("Body", { exact: true }).fill("b");
    await page.getByRole("button", { name: "Start job" }).click();
    await page.locator("#to-error").waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("to");

    // The first invalid field in the form's order, not the first one filled.
    await page.getByLabel("To", { exact: true }).fill("grace@example.com");
    await page.getByLabel("Subject").fill("");
    await page.getByLabel("Body", { exact: true }).fill("");
    await page.getByRole("button", { name: "Start job" }).click();
    await page.locator("#subject-error").waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("subject");

    // The workflow start form.
    await page.goto(`${app.url}/#/workflows`);
    await page.getByLabel("Email the link to").fill("nope");
    await page.getByRole("button", { name: "Start workflow" }).click();
    await page.locator('[aria-invalid="true"]').first().waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("wf-to");

    // A webhook URL the server refuses (loopback): focus goes back to the URL.
    await page.goto(`${app.url}/#/webhooks`);
    await page.getByLabel("URL").fill("http://127.0.0.1:9/hook");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.locator("#endpoint-url-error").waitFor();
    expect(await page.evaluate(() => document.activeElement?.id)).toBe("endpoint-url");
  });

  test('a filtered list with no rows says so, without "Start one"', async () => {
    await page.goto(`${app.url}/#/jobs`);
    await page.getByRole("heading", { name: "Jobs" }).waitFor();
    await page.locator("select").first().selectOption("cancelled"); // this user has cancelled nothing
    await page.getByText("No jobs match these filters.").waitFor();
    expect(await page.getByRole("link", { name: "Start one" }).count()).toBe(0);
  });

  test("no request of the whole visit answered 404, and the console stayed clean", () => {
    expect(responses.length).toBeGreaterThan(0);
    expect(responses.filter((r) => r.status === 404)).toEqual([]);
    expect(consoleErrors).toEqual([]);
  });
});
