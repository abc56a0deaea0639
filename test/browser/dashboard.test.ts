// The dashboard in a real Chromium against the real app (built client, HTTP,
// worker, SMTP): sign in, start a job and watch it live, the dead-letter queue,
// and a server restart the list recovers from. Screenshots land in
// test-artifacts/screenshots (git-ignored).
import type { Browser, Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";
import { chromiumOrSkip, launch, screenshot, watchConsole } from "./browser.js";

const chromiumPath = chromiumOrSkip();

const tuning = { email: { backoff: { baseMs: 50, maxMs: 100 } } };
const PASSWORD = "correct horse battery staple";

describe.skipIf(!chromiumPath)("dashboard in Chromium", () => {
  let smtp: TestSmtpServer;
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let consoleErrors: string[];

  beforeAll(async () => {
    smtp = await startTestSmtpServer();
    app = await startTestApp({ SMTP_URL: smtp.url, WEBHOOK_ALLOW_LOOPBACK: "true" }, { client: "static", tuning });
    await upsertUserWithPassword(app.app.services.db, "ada@example.com", PASSWORD, "admin");
    browser = await launch(chromiumPath as string);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    consoleErrors = watchConsole(page);
  }, 120_000);

  // A failed step leaves what the page showed, for the CI log reader.
  afterEach(async (context) => {
    if (context.task.result?.state !== "fail") return;
    await screenshot(page, `failed-${context.task.name.slice(0, 40).replace(/\W+/g, "-")}`).catch(() => {});
    const banner = await page
      .locator("[role=status], .banner, [role=alert]")
      .allTextContents()
      .catch(() => []);
    // biome-ignore lint/suspicious/noConsole: a diagnosis for a failed browser step
    console.warn(
      `failed at ${page.url()}; banners: ${JSON.stringify(banner)}; console errors: ${JSON.stringify(consoleErrors)}`,
    );
    // What the database says, to tell a stuck worker from an event that never reached the page.
    const pool = app.app.services.pool;
    const jobs = await pool
      .query("SELECT id, type, status, attempt, updated_at FROM jobs ORDER BY created_at DESC LIMIT 3")
      .catch((error: Error) => ({ rows: [error.message] }));
    const open = await pool
      .query(
        "SELECT pid, state, now() - xact_start AS open_for, left(query, 120) AS query FROM pg_stat_activity WHERE datname = current_database() AND xact_start < now() - interval '2 seconds'",
      )
      .catch((error: Error) => ({ rows: [error.message] }));
    // biome-ignore lint/suspicious/noConsole: a diagnosis for a failed browser step
    console.warn(`jobs: ${JSON.stringify(jobs.rows)}; long transactions: ${JSON.stringify(open.rows)}`);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await smtp?.close();
  });

  const statusOf = (jobId: string) => page.locator(`tr[data-job-id="${jobId}"] .badge`).first();

  test("signed out, only the sign-in page; a wrong password says so; the right one signs in", async () => {
    await page.goto(app.url);
    await page.getByLabel("Email").fill("ada@example.com");
    await page.getByLabel("Password").fill("wrong");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "Wrong email or password" }).waitFor();
    await screenshot(page, "01-sign-in");
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Jobs" }).waitFor();
    await page.getByText("Live", { exact: true }).waitFor();
    // The session is an HttpOnly cookie: scripts cannot read it.
    expect(await page.evaluate(() => document.cookie)).not.toContain("tj_session");
  });

  test("the form validates with the shared schema beside the field, then the job goes pending → running → succeeded live", async () => {
    await page.goto(`${app.url}/#/new`);
    await page.getByLabel("To", { exact: true }).fill("not an email");
    await page.getByLabel("Subject").fill("Hello from the browser");
    await page.getByLabel("Body", { exact: true }).fill("Rendered by Chromium");
    await page.getByRole("button", { name: "Start job" }).click();
    await page.locator("#to-error").waitFor();
    expect(await page.locator("#to-error").textContent()).toMatch(/email/i);
    await screenshot(page, "02-new-job-validation");

    const release = smtp.holdData();
    await page.getByLabel("To", { exact: true }).fill("grace@example.com");
    await page.getByRole("button", { name: "Start job" }).click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    const jobId = page.url().split("/").at(-1) as string;
    await page.locator(".page-head .badge", { hasText: "running" }).waitFor();
    await screenshot(page, "03-job-running");
    release();
    await page.locator(".page-head .badge", { hasText: "succeeded" }).waitFor();
    await page.getByText("messageId").waitFor(); // the result, read once the job finished
    await screenshot(page, "04-job-detail");

    await page.goto(`${app.url}/#/jobs`);
    await statusOf(jobId).filter({ hasText: "succeeded" }).waitFor();
  });

  test("the list shows new jobs and their transitions live, without reloading", async () => {
    await page.goto(`${app.url}/#/jobs`);
    await page.getByText("Live", { exact: true }).waitFor();
    const navigations: string[] = [];
    page.on("framenavigated", (frame) => navigations.push(frame.url()));
    const release = smtp.holdData();
    const token = await app.token("ada@example.com");
    const { jobId } = await app.client(token).jobs.enqueue.mutate({
      type: "email",
      payload: { to: "live@example.com", subject: "Live", body: "b" },
    });
    await statusOf(jobId).filter({ hasText: "running" }).waitFor();
    await screenshot(page, "05-jobs-list-live");
    release();
    await statusOf(jobId).filter({ hasText: "succeeded" }).waitFor();
    expect(navigations).toEqual([]);
  });

  test("a failing job lands in the dead-letter queue, is found there and requeued", async () => {
    smtp.refuse.add("bounce@example.com");
    const token = await app.token("ada@example.com");
    const { jobId } = await app.client(token).jobs.enqueue.mutate({
      type: "email",
      payload: { to: "bounce@example.com", subject: "Bounce", body: "b" },
    });
    await page.goto(`${app.url}/#/dlq`);
    const row = page.locator(`tr[data-job-id="${jobId}"]`);
    await row.waitFor();
    expect(await row.textContent()).toContain("permanent_error");
    expect(await row.textContent()).toContain("550");
    await screenshot(page, "06-dead-letter-queue");

    smtp.refuse.delete("bounce@example.com");
    await row.getByRole("button", { name: "Requeue" }).click();
    await row.waitFor({ state: "detached" });
    await eventually(async () => (await app.client(token).jobs.get.query({ jobId })).status === "succeeded");
    await page.goto(`${app.url}/#/jobs/${jobId}`);
    await page.locator(".page-head .badge", { hasText: "succeeded" }).waitFor();
  });

  test("an export started from the form offers its download link", async () => {
    await page.goto(`${app.url}/#/new`);
    await page.getByLabel("Job type").selectOption("export");
    await page.getByLabel("Format").selectOption("ndjson");
    await page.getByRole("button", { name: "Start job" }).click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    const link = page.getByRole("link", { name: /Download/ });
    await link.waitFor();
    const href = (await link.getAttribute("href")) ?? "";
    expect(href).toMatch(/\/api\/exports\/[0-9a-f-]{36}\/download\?expires=\d+&signature=/);
    const response = await fetch(`${app.url}${href}`);
    expect(response.status).toBe(200);
    await screenshot(page, "12-export-detail");
  });

  test("a webhook endpoint is added in the UI; a failing delivery shows its attempt log and can be replayed", async () => {
    await page.goto(`${app.url}/#/webhooks`);
    await page.getByLabel("URL").fill("http://10.0.0.1/hook");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.locator("#endpoint-url-error").waitFor();
    await page.getByLabel("URL").fill(`${app.url}/dev/webhooks/browser`);
    await page.getByLabel("Description (optional)").fill("Dev receiver");
    await page.getByRole("button", { name: "Add endpoint" }).click();
    await page.getByText(/whsec_/).waitFor();
    await screenshot(page, "13-webhooks");

    await fetch(`${app.url}/dev/webhooks/browser/fail?count=1`, { method: "POST" });
    await page.goto(`${app.url}/#/new`);
    await page.getByLabel("Job type").selectOption("webhook");
    await page.getByLabel("Endpoint").selectOption({ label: "Dev receiver" });
    await page.getByLabel("Event").fill("order.created");
    await page.getByLabel("Data (JSON)").fill('{"id": 7}');
    await page.getByRole("button", { name: "Start job" }).click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/);
    await page.locator(".page-head .badge", { hasText: "succeeded" }).waitFor();
    await page.reload(); // the attempt log is read when the page opens
    await page.getByRole("cell", { name: "503" }).waitFor();
    await page.getByRole("cell", { name: "200" }).waitFor();
    await screenshot(page, "14-webhook-attempts");
    const original = page.url();
    await page.getByRole("button", { name: "Replay delivery" }).click();
    await page.waitForURL((url) => url.toString() !== original && /#\/jobs\/[0-9a-f-]{36}$/.test(url.toString()));
    await page.locator(".page-head .badge", { hasText: "succeeded" }).waitFor();
    await eventually(async () => {
      const log = (await (await fetch(`${app.url}/dev/webhooks/browser`)).json()) as { deliveries: unknown[] };
      return log.deliveries.length === 2;
    });
  });

  test("the overview charts throughput, and the dev mail page shows what the sink caught", async () => {
    await page.goto(`${app.url}/#/overview`);
    await page.locator(".chart polyline").first().waitFor();
    await screenshot(page, "07-overview");
    await page.goto(`${app.url}/#/mail`);
    await page.getByRole("heading", { name: "Mail caught in development" }).waitFor();
    await screenshot(page, "08-mail");
  });

  test("a delayed job shows as scheduled with a live countdown; the Schedules page lists each schedule's next run", async () => {
    const client = app.client(await app.token("ada@example.com"));
    const { jobId } = await client.jobs.enqueue.mutate({
      type: "email",
      payload: { to: "later@example.com", subject: "Later", body: "b" },
      runAt: new Date(Date.now() + 120_000),
      priority: 5,
    });
    await page.goto(`${app.url}/#/jobs`);
    const badge = statusOf(jobId).filter({ hasText: "scheduled" });
    await badge.waitFor();
    const first = await badge.locator(".countdown").textContent();
    expect(first).toMatch(/^in (1m \d\ds|2m 00s|\d+s)$/);
    await page.waitForTimeout(1_500);
    expect(await badge.locator(".countdown").textContent()).not.toBe(first); // it counts down live
    await page.locator(`tr[data-job-id="${jobId}"]`).getByText("priority 5").waitFor();
    await screenshot(page, "08b-scheduled");

    await page.goto(`${app.url}/#/schedules`);
    await page.getByRole("heading", { name: "Schedules" }).waitFor();
    for (const name of ["cleanup_idempotency_keys", "cleanup_exports", "prune_job_history"]) {
      const countdown = page.locator(`tr[data-schedule="${name}"] .countdown`);
      expect(await countdown.textContent()).toMatch(/^in /);
    }
    await screenshot(page, "08c-schedules");
    await client.jobs.cancel.mutate({ jobId });
  });

  test("workflows: the two examples start from the UI and their step trees fill in live", async () => {
    // Chain: export, then email the link. The form checks the input with the shared schema first.
    await page.goto(`${app.url}/#/workflows`);
    await page.getByRole("heading", { name: "Workflows", exact: true }).waitFor();
    await page.getByLabel("Workflow", { exact: true }).selectOption("export_then_email");
    await page.getByLabel("Email the link to").fill("not an email");
    await page.getByRole("button", { name: "Start workflow" }).click();
    await page.getByRole("alert").filter({ hasText: /email/i }).waitFor();
    const release = smtp.holdData();
    await page.getByLabel("Email the link to").fill("chain@example.com");
    await page.getByRole("button", { name: "Start workflow" }).click();
    await page.waitForURL(/#\/workflows\/[0-9a-f-]{36}$/);
    const chainId = page.url().split("/").at(-1) as string;
    // The export has finished and the email is held at the SMTP server: the tree shows it mid-way.
    await page.locator('[data-path="0.0"][data-status="succeeded"]').waitFor();
    await page.locator('[data-path="0.1"][data-status="running"]').waitFor();
    await page.getByTestId("workflow-steps").filter({ hasText: "1 of 2 steps" }).waitFor();
    await screenshot(page, "12-workflow-chain-running");
    release();
    await page.locator('[data-path="0"][data-status="succeeded"]').waitFor();
    await page.locator("h1 .badge", { hasText: "succeeded" }).waitFor();
    await page.getByTestId("workflow-steps").filter({ hasText: "2 of 2 steps" }).waitFor();
    const link = smtp.messages.find((m) => m.envelopeTo.includes("chain@example.com"))?.mail.text ?? "";
    expect(link).toMatch(/Download: \S+\/exports\//);
    // A step links to its job, and the job back to its workflow.
    await page.locator('[data-path="0.0"] a').first().click();
    await page.waitForURL(/#\/jobs\//);
    await page.getByRole("link", { name: `step of ${chainId}` }).click();
    await page.waitForURL(new RegExp(`#/workflows/${chainId}$`));

    // Chord: two exports in parallel, then one webhook to the built-in development receiver.
    const client = app.client(await app.token("ada@example.com"));
    const endpoint = await client.webhooks.createEndpoint.mutate({
      url: `${app.url}/dev/webhooks/workflow-files`,
      description: "files",
    });
    await page.goto(`${app.url}/#/workflows`);
    await page.getByLabel("Workflow", { exact: true }).selectOption("exports_then_webhook");
    await page.getByLabel("Webhook endpoint").selectOption(endpoint.id);
    await page.getByRole("button", { name: "Start workflow" }).click();
    await page.waitForURL(/#\/workflows\/[0-9a-f-]{36}$/);
    await page.locator('[data-path="0"][data-status="succeeded"]').waitFor({ timeout: 20_000 });
    expect(await page.locator(".wf-task").count()).toBe(3);
    await screenshot(page, "13-workflow-chord-done");
    const { deliveries } = (await (await fetch(`${app.url}/dev/webhooks/workflow-files`)).json()) as {
      deliveries: { body: string; verified: boolean }[];
    };
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]?.verified).toBe(true);
    const files = JSON.parse(deliveries[0]?.body ?? "{}").data.files as { format: string }[];
    expect(files.map((f) => f.format)).toEqual(["csv", "ndjson"]);

    // The list shows both, ended, with their step counts.
    await page.goto(`${app.url}/#/workflows`);
    await page.locator(`tr[data-workflow="${chainId}"] .badge`, { hasText: "succeeded" }).waitFor();
    expect(await page.locator(`tr[data-workflow="${chainId}"] [data-testid="steps"]`).textContent()).toBe("2 / 2");
  });

  test("works on a narrow screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(`${app.url}/#/jobs`);
    await page.getByRole("heading", { name: "Jobs" }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow).toBeLessThanOrEqual(0);
    await screenshot(page, "09-narrow");
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  test("when the server restarts mid-run the UI says it is reconnecting, then shows exactly the database's state", async () => {
    const token = await app.token("ada@example.com");
    const client = app.client(token);
    await page.goto(`${app.url}/#/jobs`);
    await page.getByText("Live", { exact: true }).waitFor();
    const release = smtp.holdData();
    const { jobIds } = await client.jobs.enqueueMany.mutate({
      jobs: Array.from({ length: 6 }, (_, i) => ({
        type: "email" as const,
        payload: { to: `restart${i}@example.com`, subject: `Restart ${i}`, body: "b" },
      })),
    });
    await statusOf(jobIds[0] as string)
      .filter({ hasText: "running" })
      .waitFor();

    const port = app.app.port;
    await app.app.stop(100); // interrupted attempts are recorded and will retry
    await page.getByText(/reconnecting/i).waitFor();
    await screenshot(page, "10-reconnecting");
    release();
    const restarted = await startTestApp(
      { SMTP_URL: smtp.url, DATABASE_URL: app.databaseUrl, PORT: String(port) },
      { client: "static", tuning },
    );
    app = restarted;
    await page.getByText("Live", { exact: true }).waitFor({ timeout: 30_000 });
    const restartedClient = app.client(token);
    await eventually(async () => {
      const jobs = await Promise.all(jobIds.map((jobId) => restartedClient.jobs.get.query({ jobId })));
      return jobs.every((j) => j.status === "succeeded");
    }, 30_000);
    // Every row shows what the database says, without a reload.
    for (const jobId of jobIds) {
      const job = await restartedClient.jobs.get.query({ jobId });
      await statusOf(jobId).filter({ hasText: job.status }).waitFor();
    }
    await screenshot(page, "11-after-restart");
  });

  test("no errors in the browser console (other than the restart's dropped connections)", () => {
    const unexpected = consoleErrors.filter(
      (e) => !/Failed to load resource|ERR_CONNECTION_REFUSED|net::ERR|EventSource/i.test(e),
    );
    expect(unexpected).toEqual([]);
  });
});
