/**
 * Configuration, parsed once at boot from the environment with zod: a bad value
 * stops the process with a message naming the variable. Tests build their own
 * Config with `loadConfig({...})` instead of touching process.env.
 */
import path from "node:path";
import { z } from "zod";
import { parseTrustProxy } from "./security/trust-proxy.js";

/** PASSWORD_HASH_N's default: 2^17, about 0.4-0.65 s and 128 MiB per derivation. */
export const DEFAULT_PASSWORD_HASH_N = 131_072;
/** The lowest PASSWORD_HASH_N accepted (tests use it), and the highest (memory: 128 * N * r bytes). */
export const MIN_PASSWORD_HASH_N = 16_384;
export const MAX_PASSWORD_HASH_N = 1_048_576;

const flag = z
  .enum(["true", "false", "1", "0", "on", "off", "yes", "no"])
  .transform((v) => ["true", "1", "on", "yes"].includes(v));

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "production", "test"]).default("development"),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default("0.0.0.0"),
  DATABASE_URL: z.url().optional(),
  DATA_DIR: z.string().default(".data"),
  SMTP_URL: z.url().optional(),
  SMTP_FROM: z.string().default("Typed Jobs <jobs@typed-jobs.local>"),
  WORKER: z.enum(["on", "off"]).default("on"),
  WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(1000).default(10),
  /**
   * Jobs a worker process fetches and locks per query (graphile-worker's
   * localQueue.size); 0 fetches one job per query. Bigger batches mean fewer
   * queries but more jobs locked by one process while others may sit idle.
   */
  WORKER_LOCAL_QUEUE_SIZE: z.coerce.number().int().min(0).max(10_000).default(50),
  MAX_BODY_BYTES: z.coerce
    .number()
    .int()
    .min(1024)
    .default(5 * 1024 * 1024),
  /** Calls one batched tRPC request may hold; more answers 400 before any runs (server/http/batch-limit.ts). 0: no limit. */
  MAX_BATCH_CALLS: z.coerce.number().int().min(0).default(50),
  /** Open jobs.events streams per user in one server process; the next is refused (server/limits/streams.ts). 0: no limit. */
  MAX_STREAMS_PER_USER: z.coerce.number().int().min(0).default(20),
  /**
   * The hand-written routes that answer in tRPC's wire format without its HTTP
   * adapter (jobs.events over SSE, jobs.enqueue; server/http/trpc-internals.ts).
   * off: tRPC's own adapter answers every call, with the same results (a
   * fallback should a tRPC upgrade break the parity tests), but slower: about
   * 0.6x more server CPU per enqueue, and a fan-out to 1,000 streams falls
   * seconds behind (docs/performance.md).
   */
  TRPC_FAST_PATHS: z.enum(["on", "off"]).default("on"),
  IDEMPOTENCY_TTL_HOURS: z.coerce.number().positive().default(24),
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(10_000),
  /** Worker processes heartbeat this often... */
  HEARTBEAT_INTERVAL_MS: z.coerce.number().int().min(100).default(5_000),
  /** ...and one silent this long is swept: its running attempts recorded as crashed and retried. */
  HEARTBEAT_TIMEOUT_MS: z.coerce.number().int().min(500).default(30_000),
  /**
   * How long a process trusts a token it has looked up. A revocation made by
   * another process takes up to this long to reach it; 0 looks up every request.
   */
  AUTH_CACHE_TTL_MS: z.coerce.number().int().min(0).max(60_000).default(5_000),
  /**
   * scrypt's cost N for password hashes: a power of two, 2^14 (tests) to 2^20.
   * A hash made with another N is redone at its user's next sign-in.
   */
  PASSWORD_HASH_N: z.coerce
    .number()
    .int()
    .min(MIN_PASSWORD_HASH_N)
    .max(MAX_PASSWORD_HASH_N)
    .refine((n) => (n & (n - 1)) === 0, "must be a power of two")
    .default(DEFAULT_PASSWORD_HASH_N),
  DB_POOL_SIZE: z.coerce.number().int().min(2).max(200).default(20),
  /**
   * How long a statement on the pool waits for its answer before its
   * connection is destroyed and the call fails SERVICE_UNAVAILABLE. Client-side:
   * a frozen Postgres cannot fire its own statement_timeout. 0: no bound.
   * Exports and maintenance set their own (server/db/pool.ts).
   */
  DB_QUERY_TIMEOUT_MS: z.coerce.number().int().min(0).max(3_600_000).default(10_000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),
  /** Lets webhook deliveries reach loopback addresses (development and tests only). */
  WEBHOOK_ALLOW_LOOPBACK: flag.default(false),
  WEBHOOK_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(15_000),
  /** How long a rotated-out webhook secret keeps signing beside the new one. */
  WEBHOOK_SECRET_GRACE_HOURS: z.coerce.number().min(0).default(24),
  /**
   * Per-user token buckets, shared by every server process (server/limits/buckets.ts):
   * jobs enqueued by a user's calls refill at RATE a minute up to BURST; email jobs
   * also draw on the email bucket. 0 (rate or burst) turns that limit off.
   */
  ENQUEUE_RATE_PER_MINUTE: z.coerce.number().int().min(0).default(6000),
  ENQUEUE_BURST: z.coerce.number().int().min(0).default(20_000),
  EMAIL_RATE_PER_MINUTE: z.coerce.number().int().min(0).default(600),
  EMAIL_BURST: z.coerce.number().int().min(0).default(5000),
  /** Where finished exports are written (shared storage when workers and servers run on several machines). */
  EXPORT_DIR: z.string().optional(),
  /** How long an export's signed download link works; the file is deleted after the same time. */
  EXPORT_LINK_TTL_HOURS: z.coerce.number().positive().default(24),
  /** Finished jobs (and their events) older than this are deleted by the prune_job_history schedule. */
  JOB_RETENTION_DAYS: z.coerce.number().int().positive().max(36_500).default(30),
  /** Makes download links absolute (for mailing them), e.g. https://jobs.example.com. */
  PUBLIC_URL: z.url().optional(),
  /** Proxies trusted for X-Forwarded-Proto/-For (server/security/trust-proxy.ts); default: none. */
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((raw, ctx) => {
      const parsed = parseTrustProxy(raw);
      if ("error" in parsed) {
        ctx.addIssue({ code: "custom", message: parsed.error });
        return z.NEVER;
      }
      return parsed.value;
    }),
});

export type Config = z.infer<typeof envSchema> & { dataDir: string; exportDir: string };

export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  // Empty strings mean "unset", as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ""));
  const parsed = envSchema
    .refine((c) => c.NODE_ENV !== "production" || c.SMTP_URL !== undefined, {
      path: ["SMTP_URL"],
      message: "is required in production (development and tests fall back to a local SMTP sink)",
    })
    .safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join(".")}: ${i.message}`);
    throw new Error(`Invalid environment configuration:\n${lines.join("\n")}`);
  }
  const dataDir = path.resolve(parsed.data.DATA_DIR);
  return { ...parsed.data, dataDir, exportDir: path.resolve(parsed.data.EXPORT_DIR ?? path.join(dataDir, "exports")) };
}
