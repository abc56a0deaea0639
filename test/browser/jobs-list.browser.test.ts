// The Jobs list in Chromium under load (issue 17, items 3 and 4), against an
// app with WORKER=off so jobs move only when the test moves them and the
// events settle: a burst of 2,000 jobs enqueued in one call costs the page a
// bounded number of list reads (no per-job fetches, no long URL, no error) and
// ends with the newest job on top; a list filtered by state drops the jobs that
// leave the state and shows, in order, those that enter it, until its rows are
// what a fresh jobs.list with the same filter says.
import type { Browser, Page, Request, Response } from "playwright-core";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { upsertUserWithPassword } from "../../server/auth/users.js";
import type { JobStatus } from "../../shared/states.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { chromiumOrSkip, launch, screenshot, watchConsole } from "./browser.js";

const chromiumPath = chromiumOrSkip();

const PASSWORD = "correct horse battery staple";
const EMAIL = "lists@example.com";
/** The list's reads allowed for a burst: one refetch, and slack for the one started before the burst's last events. */
const MAX_LIST_READS = 3;

const email = (i: number) => ({
  type: "email" as const,
  payload: { to: `burst${i}@example.com`, subject: `Burst ${i}`, body: "b" },
});

describe.skipIf(!chromiumPath)("the Jobs list under load, in Chromium", () => {
  let app: TestApp;
  let browser: Browser;
  let page: Page;
  let consoleErrors: string[];
  let client: ReturnType<TestApp["client"]>;

  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off" }, { client: "static" });
    await upsertUserWithPassword(app.app.services.db, EMAIL, PASSWORD, "user");
    client = app.client(await app.token(EMAIL));
    browser = await launch(chromiumPath as string);
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    consoleErrors = watchConsole(page);
    await page.goto(app.url);
    await page.getByLabel("Email").fill(EMAIL);
    await page.getByLabel("Password").fill(PASSWORD);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Jobs" }).waitFor();
    await page.getByText("Live", { exact: true }).waitFor();
  }, 120_000);

  afterEach(async (context) => {
    if (context.task.result?.state !== "fail") return;
    await screenshot(page, `jobs-list-failed-${context.task.name.slice(0, 40).replace(/\W+/g, "-")}`).catch(() => {});
    // biome-ignore lint/suspicious/noConsole: a diagnosis for a failed browser step
    console.warn(`failed at ${page.url()}; console errors: ${JSON.stringify(consoleErrors)}`);
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  /** The rows the page shows, top to bottom: id and state. */
  const rows = () =>
    page.$$eval("table.jobs tbody tr[data-job-id]", (trs) =>
      trs.map((tr) => ({ id: tr.getAttribute("data-job-id"), status: tr.getAttribute("data-status") })),
    );

  /**
   * Waits until the page's rows are the first rows of a fresh jobs.list with
   * the same filter and as many rows (the events have settled), then checks it.
   */
  async function expectRowsMatchFreshList(status: JobStatus | undefined, minRows: number) {
    const fresh = async () => {
      const shown = await rows();
      const { items } = await client.jobs.list.query({ status, limit: Math.max(1, minRows, shown.length) });
      return { shown, expected: items.map((j) => ({ id: j.id, status: j.status })) };
    };
    const settled = await eventually(async () => {
      const { shown, expected } = await fresh();
      return shown.length >= minRows && JSON.stringify(shown) === JSON.stringify(expected) && shown;
    }).catch(async () => fresh());
    if (!Array.isArray(settled)) expect(settled.shown).toEqual(settled.expected);
    return settled as { id: string; status: string }[];
  }

  async function pickState(status: JobStatus | "") {
    await page.locator("form.filters label", { hasText: "State" }).locator("select").selectOption(status);
  }

  test("2,000 jobs enqueued in one call: a bounded number of list reads, no per-job fetch, no long URL, no error; the newest job ends on top", async () => {
    await page.goto(`${app.url}/#/jobs`);
    await page.getByText("Live", { exact: true }).waitFor();
    const requests: Request[] = [];
    const failures: string[] = [];
    const onRequest = (request: Request) => {
      if (new URL(request.url()).pathname.startsWith("/trpc/")) requests.push(request);
    };
    const onResponse = (response: Response) => {
      if (response.status() >= 400) failures.push(`${response.status()} ${response.url().slice(0, 200)}`);
    };
    // The batch stream link ends its request once every result is in: that abort is no failure.
    const onFailed = (request: Request) => {
      const reason = request.failure()?.errorText ?? "";
      if (!/ERR_ABORTED/.test(reason)) failures.push(`${reason} ${request.url().slice(0, 200)}`);
    };
    page.on("request", onRequest).on("response", onResponse).on("requestfailed", onFailed);

    const { jobIds } = await client.jobs.enqueueMany.mutate({ jobs: Array.from({ length: 2000 }, (_, i) => email(i)) });
    expect(jobIds).toHaveLength(2000);
    const newest = (await client.jobs.list.query({ limit: 1 })).items[0]?.id;

    // Settled: the newest job on top (checked below, after what it cost).
    const onTop = await page
      .locator(`table.jobs tbody tr:first-child[data-job-id="${newest}"]`)
      .waitFor({ timeout: 20_000 })
      .then(() => true)
      .catch(() => false);
    const jobReads = () =>
      requests
        .flatMap((r) => new URL(r.url()).pathname.slice("/trpc/".length).split(","))
        .filter((p) => p.startsWith("jobs.") && p !== "jobs.events");
    // Quiet for a moment: no more jobs are read once the events are in.
    const settledAt = jobReads().length;
    await page.waitForTimeout(1_000);
    page.off("request", onRequest).off("response", onResponse).off("requestfailed", onFailed);
    const reads = jobReads();
    const longest = Math.max(...requests.map((r) => r.url().length));
    const seen = `${requests.length} requests, ${reads.length} job reads, longest URL ${longest}, failures ${failures.length}`;
    expect(reads.filter((p) => p !== "jobs.list").length, `per-job fetches (${seen})`).toBe(0);
    expect(reads.length, seen).toBeGreaterThanOrEqual(1);
    expect(reads.length, seen).toBeLessThanOrEqual(MAX_LIST_READS);
    expect(longest, seen).toBeLessThanOrEqual(8 * 1024);
    expect(failures.slice(0, 5), seen).toEqual([]);
    expect(onTop, "the newest job on top").toBe(true);
    expect(reads.length, "job reads after the top row was the newest").toBe(settledAt);
    const shown = await expectRowsMatchFreshList(undefined, 50);
    expect(shown[0]?.id).toBe(newest);
    await screenshot(page, "jobs-list-burst");
  }, 60_000);

  /** 90 jobs in three calls, so their creation times differ: rows entering land among the others, not only on top. */
  async function enqueueSpread(): Promise<string[]> {
    const ids: string[] = [];
    for (let call = 0; call < 3; call++) {
      const { jobIds } = await client.jobs.enqueueMany.mutate({
        jobs: Array.from({ length: 30 }, (_, i) => email(call * 30 + i)),
      });
      ids.push(...jobIds);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    return ids;
  }

  test("under a state filter, older jobs entering the state appear at their place in the order", async () => {
    const ids = await enqueueSpread();
    for (const jobId of ids.filter((_, i) => i % 9 === 0)) await client.jobs.cancel.mutate({ jobId });
    await page.goto(`${app.url}/#/jobs`);
    await page.getByText("Live", { exact: true }).waitFor();
    await pickState("cancelled");
    await expectRowsMatchFreshList("cancelled", 10);

    // Jobs of every age enter "cancelled".
    for (const jobId of ids.filter((_, i) => i % 9 === 4 || i % 9 === 7)) await client.jobs.cancel.mutate({ jobId });
    const cancelled = await expectRowsMatchFreshList("cancelled", 30);
    expect(cancelled.every((r) => r.status === "cancelled")).toBe(true);
    await pickState("");
  }, 60_000);

  test("under a state filter, jobs leaving the state leave the list and new ones appear on top", async () => {
    await enqueueSpread();
    await page.goto(`${app.url}/#/jobs`);
    await page.getByText("Live", { exact: true }).waitFor();
    await pickState("pending"); // a page of 50, more behind it
    const before = await expectRowsMatchFreshList("pending", 50);
    const leaving = before.filter((_, i) => i % 5 === 1).map((r) => r.id);
    for (const jobId of leaving) await client.jobs.cancel.mutate({ jobId });
    const { jobIds: entering } = await client.jobs.enqueueMany.mutate({
      jobs: Array.from({ length: 4 }, (_, i) => email(1000 + i)),
    });
    const pending = await expectRowsMatchFreshList("pending", 40);
    expect(pending.some((r) => leaving.includes(r.id))).toBe(false);
    expect(entering.every((id) => pending.some((r) => r.id === id))).toBe(true);
    expect(pending.every((r) => r.status === "pending")).toBe(true);
    await pickState("");
  }, 60_000);

  test("no errors in the browser console", () => {
    expect(consoleErrors).toEqual([]);
  });
});
