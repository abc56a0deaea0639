// Configuration is parsed once with zod and fails fast naming the variable.
import { expect, test } from "vitest";
import { loadConfig } from "../../server/config.js";

test("defaults give a development app on port 3000 with an embedded database and a worker", () => {
  const config = loadConfig({});
  expect(config).toMatchObject({
    NODE_ENV: "development",
    PORT: 3000,
    WORKER: "on",
    MAX_BODY_BYTES: 5 * 1024 * 1024,
    IDEMPOTENCY_TTL_HOURS: 24,
    AUTH_CACHE_TTL_MS: 5_000,
    WEBHOOK_ALLOW_LOOPBACK: false,
  });
  expect(config.DATABASE_URL).toBeUndefined();
});

test("a bad value stops the boot with a message naming the variable", () => {
  expect(() => loadConfig({ PORT: "eighty" })).toThrow(/PORT/);
  expect(() => loadConfig({ WORKER: "maybe" })).toThrow(/WORKER/);
  expect(() => loadConfig({ DATABASE_URL: "not a url" })).toThrow(/DATABASE_URL/);
  expect(() => loadConfig({ AUTH_CACHE_TTL_MS: "-1" })).toThrow(/AUTH_CACHE_TTL_MS/);
});

test("production requires SMTP_URL instead of failing every email later", () => {
  expect(() => loadConfig({ NODE_ENV: "production" })).toThrow(/SMTP_URL/);
  expect(loadConfig({ NODE_ENV: "production", SMTP_URL: "smtp://mail.example.com:587" }).SMTP_URL).toBe(
    "smtp://mail.example.com:587",
  );
});

test("empty strings count as unset; flags accept true/false, 1/0, on/off, yes/no", () => {
  expect(loadConfig({ DATABASE_URL: "" }).DATABASE_URL).toBeUndefined();
  expect(loadConfig({ WEBHOOK_ALLOW_LOOPBACK: "1" }).WEBHOOK_ALLOW_LOOPBACK).toBe(true);
  expect(loadConfig({ WEBHOOK_ALLOW_LOOPBACK: "off" }).WEBHOOK_ALLOW_LOOPBACK).toBe(false);
});

test("HOST stays 0.0.0.0 by default for npm start (npm run dev defaults it to 127.0.0.1 in server/main.ts)", () => {
  expect(loadConfig({ NODE_ENV: "production", SMTP_URL: "smtp://mail.example.com:587" }).HOST).toBe("0.0.0.0");
});
