/** Small builders shared by tests: users, jobs, worker deps, an attempt runner. */
import type pg from "pg";
import type { AuthUser } from "../../server/auth/tokens.js";
import { loadConfig } from "../../server/config.js";
import type { Db } from "../../server/db/pool.js";
import { enqueueJobs } from "../../server/lifecycle/enqueue.js";
import { createLogger } from "../../server/logger.js";
import { systemNetwork } from "../../server/webhooks/network.js";
import { AttemptTable } from "../../server/worker/attempt.js";
import type { AttemptDeps } from "../../server/worker/run-attempt.js";
import type { EnqueueItem } from "../../shared/jobs.js";

export async function makeUser(db: Db, email: string, role: "user" | "admin" = "user"): Promise<AuthUser> {
  const user = await db.user.create({ data: { email, role } });
  return { id: user.id, email: user.email, role };
}

export function emailItem(overrides: Partial<EnqueueItem> = {}, to = "someone@example.com"): EnqueueItem {
  return {
    type: "email",
    payload: { to, subject: "Hello", body: "Body" },
    ...overrides,
  } as EnqueueItem;
}

export async function enqueueOne(pool: pg.Pool, owner: AuthUser, item: EnqueueItem = emailItem()): Promise<string> {
  const [id] = await enqueueJobs(pool, owner.id, [item], { idempotencyTtlHours: 24 });
  if (!id) throw new Error("no id");
  return id;
}

export function attemptDeps(db: Db, pool: pg.Pool, env: Record<string, string> = {}): AttemptDeps {
  const config = loadConfig({ NODE_ENV: "test", DATABASE_URL: "postgresql://unused/db", ...env });
  return {
    services: { db, pool, config, network: systemNetwork },
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? "silent", "test-worker", "stderr"),
    attempts: new AttemptTable(),
  };
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A promise with its resolve function, to hold a handler at a chosen point. */
export function gate<T = void>() {
  let open!: (value: T) => void;
  const promise = new Promise<T>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

export type ClientError = Error & {
  data?: { code?: string; httpStatus?: number; zodError?: { issues: { path: (string | number)[] }[] } | null };
};

/** The error a promise rejects with; fails the test if it resolves. */
export async function rejection(promise: Promise<unknown>): Promise<ClientError> {
  try {
    await promise;
  } catch (error) {
    return error as ClientError;
  }
  throw new Error("expected the call to fail, but it succeeded");
}
