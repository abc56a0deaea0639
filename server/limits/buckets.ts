/**
 * server/limits/ (services) owns the rate limits: the enqueue and email token buckets (here), sign-in attempts,
 * open streams per user, and the one error they throw (rate-limited.ts). Must not: import anything above the
 * services layer; its callers (server/lifecycle/enqueue.ts, server/http/) decide when a limit applies.
 *
 * The enqueue and email limits: a token bucket per (user, kind) in Postgres,
 * so every server process draws on one budget. Jobs enqueued by a user's calls
 * (jobs.enqueue, jobs.enqueueMany, webhooks.replay, workflows.start) take one
 * enqueue token each, and email jobs an email token too; requeues, schedules
 * and later workflow steps take none. The SQL is take_rate_tokens()
 * (prisma/migrations/20261207010000_rate_buckets). Concurrent calls in one
 * process share one statement and one commit (a Batcher), so a busy server
 * pays one round trip per batch of takes, not per call (measured: a take per
 * call cost HTTP enqueue a third of its rate).
 */
import type pg from "pg";
import type { Config } from "../config.js";
import { Batcher } from "../db/batcher.js";
import { perPool } from "../db/pool.js";
import { FieldIssuesError } from "../errors.js";
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
  pool: pg.Pool,
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
  const answer = await takeBatcher(pool).submit({ ownerId, buckets });
  const retryAfterMs = answer.retry_after_ms;
  if (retryAfterMs <= 0) return;
  const limited = buckets.find((b) => b.kind === answer.limited_kind) ?? (buckets[0] as Bucket);
  throw new RateLimitedError(
    `Too many ${limited.noun}: ${limited.rateName} is ${limited.perMinute} a minute, in bursts of up to ${limited.burst} (${limited.burstName})`,
    retryAfterMs,
  );
}

interface TakeRequest {
  ownerId: string;
  buckets: Bucket[];
}
interface TakeAnswer {
  retry_after_ms: number;
  limited_kind: string | null;
}

/** A Postgres array literal of plain values (kinds are fixed words, numbers are numbers). */
const arrayLiteral = (values: (string | number)[]) => `{${values.join(",")}}`;

/**
 * One statement for a batch of takes, each through take_rate_tokens in turn.
 * Requests go in owner order, and each call locks its rows in kind order, so
 * two processes' batches lock rows in one order and cannot deadlock; should
 * one still fail, each request runs again alone.
 */
const TAKE_BATCH_SQL = `
SELECT t.retry_after_ms, t.limited_kind
  FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
       AS r(owner_id, kinds, counts, rates, bursts, i)
 CROSS JOIN LATERAL take_rate_tokens(r.owner_id, r.kinds::text[], r.counts::float8[], r.rates::float8[], r.bursts::float8[]) AS t
 ORDER BY r.i`;

const takeBatcher = perPool(
  (pool) =>
    new Batcher<TakeRequest, TakeAnswer>(
      async (requests) => {
        const order = requests
          .map((_, i) => i)
          .sort((a, b) => {
            const [x, y] = [requests[a]?.ownerId ?? "", requests[b]?.ownerId ?? ""];
            return x < y ? -1 : x > y ? 1 : a - b;
          });
        const sorted = order.map((i) => requests[i] as TakeRequest);
        const { rows } = await pool.query<TakeAnswer>({
          name: "typed_jobs_take_rate_tokens_batch",
          text: TAKE_BATCH_SQL,
          values: [
            sorted.map((r) => r.ownerId),
            sorted.map((r) => arrayLiteral(r.buckets.map((b) => b.kind))),
            sorted.map((r) => arrayLiteral(r.buckets.map((b) => b.count))),
            sorted.map((r) => arrayLiteral(r.buckets.map((b) => b.perMinute / 60_000))),
            sorted.map((r) => arrayLiteral(r.buckets.map((b) => b.burst))),
          ],
        });
        const answers: TakeAnswer[] = new Array(requests.length);
        for (const [position, i] of order.entries()) answers[i] = rows[position] as TakeAnswer;
        return answers;
      },
      { slots: 2, maxBatch: 100, retryAlone: () => true },
    ),
);
