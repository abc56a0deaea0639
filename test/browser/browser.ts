/**
 * Browser-test support: finds Debian's Chromium (CHROMIUM_PATH, else the
 * system's), builds the client once, and records console errors per page.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";

export const SCREENSHOTS = path.resolve("test-artifacts/screenshots");

export function findChromium(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, "/usr/bin/chromium", "/usr/bin/chromium-browser"];
  for (const candidate of candidates) if (candidate && fs.existsSync(candidate)) return candidate;
  try {
    return execFileSync("which", ["chromium"], { encoding: "utf8" }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/**
 * The Chromium a browser test file drives, or undefined after a loud skip
 * banner. With REQUIRE_BROWSER_TESTS=1 (as CI sets) a missing Chromium throws
 * instead. Call at module level and `describe.skipIf(!chromiumPath)`.
 */
export function chromiumOrSkip(): string | undefined {
  const found = findChromium();
  if (found) return found;
  const message = "SKIPPED: browser tests need Chromium (set CHROMIUM_PATH or apt-get install chromium)";
  if (process.env.REQUIRE_BROWSER_TESTS === "1")
    throw new Error(`${message}; REQUIRE_BROWSER_TESTS=1 forbids skipping`);
  // biome-ignore lint/suspicious/noConsole: the skip must be loud in the test output
  console.warn(`\n${"!".repeat(78)}\n${message}\n${"!".repeat(78)}\n`);
  return undefined;
}

export async function buildClient(): Promise<void> {
  const { build } = await import("vite");
  // Vite derives import.meta.env.DEV from NODE_ENV, which vitest sets to "test".
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = "production";
  try {
    await build({ configFile: path.resolve("vite.config.ts"), logLevel: "error", mode: "production" });
  } finally {
    process.env.NODE_ENV = nodeEnv;
  }
}

export function launch(executablePath: string): Promise<Browser> {
  return chromium.launch({
    executablePath,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
}

/** Collects console errors and uncaught page errors, the "no errors in the console" bar. */
export function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on("console", (message) => {
    if (message.type() === "error") errors.push(message.text());
  });
  page.on("pageerror", (error) => errors.push(error.message));
  return errors;
}

export async function screenshot(page: Page, name: string): Promise<void> {
  fs.mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
}
