/**
 * Starts the real app (HTTP, tRPC, worker, event hub) on a fresh database and
 * a free port, and builds typed tRPC clients that talk to it over HTTP.
 */
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink } from "@trpc/client";
import { EventSource } from "eventsource";
import { type RunningApp, type StartOptions, startApp } from "../../server/app.js";
import { issueToken } from "../../server/auth/tokens.js";
import { loadConfig } from "../../server/config.js";
import type { AppRouter } from "../../server/http/routers/_app.js";
import { createLogger } from "../../server/logger.js";
import { transformer } from "../../shared/transformer.js";
import { createTestDatabase } from "./db.js";

export interface TestApp {
  app: RunningApp;
  url: string;
  databaseUrl: string;
  token: (email: string, options?: { admin?: boolean }) => Promise<string>;
  client: (token: string | undefined) => ReturnType<typeof trpcClient>;
  close: () => Promise<void>;
}

export function trpcClient(baseUrl: string, token: string | undefined) {
  const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url: `${baseUrl}/trpc`,
          transformer,
          EventSource,
          eventSourceOptions: () => ({
            fetch: (input: string | URL | Request, init?: RequestInit) =>
              fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } }),
          }),
        }),
        false: httpLink({ url: `${baseUrl}/trpc`, transformer, headers }),
      }),
    ],
  });
}

export async function startTestApp(
  env: Record<string, string> = {},
  options: Partial<StartOptions> = {},
): Promise<TestApp> {
  const databaseUrl = env.DATABASE_URL ?? (await createTestDatabase());
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-app-"));
  const config = loadConfig({
    NODE_ENV: "test",
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? "silent",
    DB_POOL_SIZE: "8",
    // The cheapest scrypt allowed (2^17 costs ~0.5 s a derivation) for sign-ins; a user made by
    // upsertUserWithPassword without this N is rehashed to it at its first sign-in.
    PASSWORD_HASH_N: "16384",
    ...env,
    DATABASE_URL: databaseUrl,
  });
  const logger = createLogger(config.LOG_LEVEL, "test-app", "stderr");
  const app = await startApp(config, logger, { client: "none", ...options });
  return {
    app,
    url: app.url,
    databaseUrl,
    token: (email, tokenOptions) => issueToken(app.services.db, email, tokenOptions),
    client: (token) => trpcClient(app.url, token),
    close: async () => {
      await app.stop(1000);
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns a value, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`, { cause: last });
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
