/**
 * The enqueue and email limits: a token bucket per (user, kind) in Postgres,
 * so every server process draws on one budget. Jobs enqueued by a user's calls
 * (jobs.enqueue, jobs.enqueueMany, webhooks.replay, workflows.start) take one
 * enqueue token each, and email jobs an email token too; requeues, schedules
 * and later workflow steps take none. The SQL is take_rate_tokens()
 * (prisma/migrations/20261207010000_rate_buckets): one round trip per call.
 */
import type { Config } from "../config.js";
import { FieldIssuesError } from "../jobs/errors.js";
import type { Queryable } from "../jobs/sql.js";
import { RateLimitedError } from "./rate-limited.js";

export type BucketLimits = Pick<
  Config,
  "ENQUEUE_RATE_PER_MINUTE" | "ENQUEUE_BURST" | "EMAIL_RATE_PER_MINUTE" | "EMAIL_BURST"
>;

/** What one call would enqueue: its jobs, and how many of them are emails. */
export interface JobCounts {
  jobs: number;
  emails: number;
}

interface Bucket {
  kind: "enqueue" | "email";
  count: number;
  perMinute: number;
  burst: number;
  /** The settings' names, for messages. */
  rateName: string;
  burstName: string;
  /** "jobs" or "email jobs", for messages. */
  noun: string;
}

/** The buckets a call draws on, in one fixed order (rows are locked in it). A limit set to 0 is off. */
function bucketsFor(limits: BucketLimits, counts: JobCounts): Bucket[] {
  const all: Bucket[] = [
    {
      kind: "enqueue",
      count: counts.jobs,
      perMinute: limits.ENQUEUE_RATE_PER_MINUTE,
      burst: limits.ENQUEUE_BURST,
      rateName: "ENQUEUE_RATE_PER_MINUTE",
      burstName: "ENQUEUE_BURST",
      noun: "jobs",
    },
    {
      kind: "email",
      count: counts.emails,
      perMinute: limits.EMAIL_RATE_PER_MINUTE,
      burst: limits.EMAIL_BURST,
      rateName: "EMAIL_RATE_PER_MINUTE",
      burstName: "EMAIL_BURST",
      noun: "email jobs",
    },
  ];
  return all.filter((b) => b.count > 0 && b.perMinute > 0 && b.burst > 0);
}

/**
 * Takes the call's tokens, or throws: FieldIssuesError (a 400 naming `path`)
 * when the call alone is bigger than a burst, since no wait would let it
 * through; RateLimitedError (429) with the wait until it fits otherwise. A
 * refused call takes nothing from any bucket. Call it before enqueueing, so a
 * refused call enqueues nothing.
 */
export async function takeJobTokens(
  db: Queryable,
  ownerId: string,
  limits: BucketLimits,
  counts: JobCounts,
  path: (string | number)[],
): Promise<void> {
  const buckets = bucketsFor(limits, counts);
  if (buckets.length === 0) return;
  const tooBig = buckets.filter((b) => b.count > b.burst);
  if (tooBig.length > 0) {
    throw new FieldIssuesError(
      tooBig.map((b) => ({
        code: "custom" as const,
        path,
        message: `at most ${b.burst} ${b.noun} fit in one call (${b.burstName}); this one has ${b.count}`,
      })),
    );
  }
  const { rows } = await db.query<{ retry_after_ms: number; limited_kind: string | null }>({
    name: "typed_jobs_take_rate_tokens",
    text: "SELECT retry_after_ms, limited_kind FROM take_rate_tokens($1, $2, $3, $4, $5)",
    values: [
      ownerId,
      buckets.map((b) => b.kind),
      buckets.map((b) => b.count),
      buckets.map((b) => b.perMinute / 60_000),
      buckets.map((b) => b.burst),
    ],
  });
  const retryAfterMs = rows[0]?.retry_after_ms ?? 0;
  if (retryAfterMs <= 0) return;
  const limited = buckets.find((b) => b.kind === rows[0]?.limited_kind) ?? (buckets[0] as Bucket);
  throw new RateLimitedError(
    `Too many ${limited.noun}: ${limited.rateName} is ${limited.perMinute} a minute, in bursts of up to ${limited.burst} (${limited.burstName})`,
    retryAfterMs,
  );
}
