/**
 * The worker's hot writes, start ("running"), progress and success
 * ("succeeded", with the attempt's last progress report and its receipt),
 * coalesced across the attempts of one process: while one statement is in
 * flight, the requests that arrive queue up and go together in the next one
 * (group commit). A batch is one statement, starts and successes together,
 * with their event rows; it rings the doorbell once it has committed
 * (doorbell.ts). A busy worker so pays one round trip and one commit (one WAL
 * flush, the scarce resource here) per batch, not two per job. Under light
 * load a batch is a single write and costs what the unbatched write did.
 *
 * The guards are those of applyTransition (transitions.ts): a job only starts
 * from pending or retrying, once its run_at has come, and only the attempt holding the fencing token may
 * record success. A job the guard skips is reported back (undefined / false),
 * and the caller takes its slow path.
 */
import type pg from "pg";
import { statusesLeadingTo } from "../../shared/states.js";
import { Batcher } from "../db/batcher.js";
import { perPool } from "../db/pool.js";
import type { JobRow } from "../db/schema.js";
import { isDatabaseUnavailable } from "../db/unavailable.js";
import { doorbellFor } from "./doorbell.js";

/** With a success: the last progress report not yet written, and the receipt to keep. */
export interface SuccessExtras {
  progress?: Record<string, unknown> | undefined;
  receipt?: unknown;
}

export type WriteRequest =
  | { kind: "start"; jobId: string; processId: string | null }
  | { kind: "progress"; jobId: string; fence: string; progress: Record<string, unknown> }
  | ({ kind: "succeed"; jobId: string; fence: string; result: unknown } & SuccessExtras);

/** What an attempt needs of its job, as a start returns it, with the receipt an earlier attempt kept. */
export type AttemptRow = Pick<
  JobRow,
  "id" | "status" | "attempt" | "max_attempts" | "fence" | "payload" | "workflow_id"
> & { receipt?: unknown };

/** A start's updated row (undefined: skipped), or whether a progress or success was recorded. */
export type WriteOutcome = AttemptRow | undefined | boolean;

/**
 * Runs a batch in one statement: starts (pending|retrying -> running, attempt
 * and fence bumped, with the receipt an earlier attempt kept), progress
 * reports and successes (running -> succeeded, with the last progress report
 * and the receipt) of the attempts holding their fence, each with its event
 * rows. Receipts are kept even for a stale attempt: what it did outside the
 * database was done. One job is never twice in a batch: an attempt asks for
 * its next write after the previous one returned.
 */
export async function writeBatch(pool: pg.Pool, requests: WriteRequest[]): Promise<WriteOutcome[]> {
  const starts = requests.flatMap((r) => (r.kind === "start" ? [r] : []));
  const reports = requests.flatMap((r) => (r.kind === "progress" ? [r] : []));
  const successes = requests.flatMap((r) => (r.kind === "succeed" ? [r] : []));
  const json = (value: unknown) => (value === undefined ? null : JSON.stringify(value));
  const { rows } = await pool.query<AttemptRow & { op: "start" | "progress" | "succeed" }>({
    // Prepared once per connection: planning this statement costs more than running it.
    name: "typed_jobs_write_batch",
    text: `WITH s AS (
       UPDATE jobs SET status = 'running', updated_at = now(), attempt = attempt + 1, fence = fence + 1,
              started_at = now(), progress = NULL, error = NULL, error_stack = NULL,
              worker_process_id = b.process_id
         FROM unnest($1::uuid[], $2::uuid[]) AS b(id, process_id)
        WHERE jobs.id = b.id AND jobs.status = ANY($3::text[])
          -- Not before its time (a retry's backoff, a server's Retry-After): its graphile job is
          -- queued for then. The second of slack covers run_at's rounding to the millisecond.
          AND jobs.run_at <= now() + interval '1 second'
       RETURNING jobs.id, jobs.owner_id, jobs.type, jobs.status, jobs.attempt, jobs.max_attempts,
                 jobs.fence::text AS fence, jobs.payload, jobs.workflow_id,
                 -- Only a job tried before can have a receipt: a first attempt skips the lookup.
                 CASE WHEN jobs.attempt > 1 THEN (SELECT r.receipt FROM job_receipts r WHERE r.job_id = jobs.id) END
                   AS receipt
     ), p AS (
       UPDATE jobs SET progress = b.progress, updated_at = now()
         FROM unnest($4::uuid[], $5::bigint[], $6::jsonb[]) AS b(id, fence, progress)
        WHERE jobs.id = b.id AND jobs.fence = b.fence AND jobs.status = 'running'
       RETURNING jobs.id, jobs.owner_id, jobs.type, jobs.status, jobs.attempt, jobs.progress
     ), d AS (
       UPDATE jobs SET status = 'succeeded', updated_at = now(), result = b.result, completed_at = now(),
              progress = coalesce(b.progress, jobs.progress)
         FROM unnest($7::uuid[], $8::bigint[], $9::jsonb[], $10::jsonb[]) AS b(id, fence, result, progress)
        WHERE jobs.id = b.id AND jobs.fence = b.fence AND jobs.status = 'running'
       RETURNING jobs.id, jobs.owner_id, jobs.type, jobs.status, jobs.attempt, b.progress AS last_progress
     ), r AS (
       INSERT INTO job_receipts (job_id, receipt)
       SELECT b.id, b.receipt FROM unnest($7::uuid[], $11::jsonb[]) AS b(id, receipt) WHERE b.receipt IS NOT NULL
       ON CONFLICT (job_id) DO NOTHING
     ), e AS (
       INSERT INTO job_events (job_id, owner_id, job_type, kind, status, attempt, progress)
       SELECT id, owner_id, type, kind, status, attempt, progress
         FROM (SELECT 1 AS ord, id, owner_id, type, 'progress' AS kind, status, attempt, progress FROM p
               UNION ALL SELECT 1, id, owner_id, type, 'progress', 'running', attempt, last_progress
                           FROM d WHERE last_progress IS NOT NULL
               UNION ALL SELECT 2, id, owner_id, type, 'transition', status, attempt, NULL FROM d
               UNION ALL SELECT 2, id, owner_id, type, 'transition', status, attempt, NULL FROM s) AS changed
        -- A success's last progress event comes before its succeeded event.
        ORDER BY ord
     )
     SELECT 'start' AS op, s.id, s.status, s.attempt, s.max_attempts, s.fence, s.payload, s.workflow_id, s.receipt
       FROM s
     UNION ALL SELECT 'progress', p.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM p
     UNION ALL SELECT 'succeed', d.id, NULL, NULL, NULL, NULL, NULL, NULL, NULL FROM d`,
    values: [
      starts.map((r) => r.jobId),
      starts.map((r) => r.processId),
      statusesLeadingTo("running"),
      reports.map((r) => r.jobId),
      reports.map((r) => r.fence),
      reports.map((r) => JSON.stringify(r.progress)),
      successes.map((r) => r.jobId),
      successes.map((r) => r.fence),
      successes.map((r) => JSON.stringify(r.result)),
      successes.map((r) => json(r.progress)),
      successes.map((r) => json(r.receipt)),
    ],
  });
  if (rows.length > 0) doorbellFor(pool).ring(); // committed: the doorbell rule (doorbell.ts)
  const started = new Map<string, AttemptRow>();
  const recorded = { progress: new Set<string>(), succeed: new Set<string>() };
  for (const { op, ...row } of rows) {
    if (op === "start") started.set(row.id, row);
    else recorded[op].add(row.id);
  }
  // A job asked to start twice in one batch starts once: the first request gets the row.
  const handedOut = new Set<string>();
  return requests.map((r) => {
    if (r.kind !== "start") return recorded[r.kind].has(r.jobId);
    if (handedOut.has(r.jobId)) return undefined;
    handedOut.add(r.jobId);
    return started.get(r.jobId);
  });
}

/**
 * The write batcher of a pool. A write the database refuses (say, a result it
 * cannot store) fails only its own attempt: the batch is run again one request
 * at a time (see Batcher). An unreachable database fails them all, and each
 * caller waits and retries.
 */
const writerFor = perPool(
  (pool) =>
    new Batcher((requests: WriteRequest[]) => writeBatch(pool, requests), {
      slots: 2,
      retryAlone: (error) => !isDatabaseUnavailable(error),
    }),
);

/** Starts an attempt of `jobId` in this process's next batch. Undefined: not pending or retrying. */
export function startAttemptBatched(pool: pg.Pool, jobId: string, processId: string | null) {
  return writerFor(pool).submit({ kind: "start", jobId, processId }) as Promise<AttemptRow | undefined>;
}

/** Records a progress report in this process's next batch. False: the attempt is stale. */
export function recordProgressBatched(pool: pg.Pool, jobId: string, fence: string, progress: Record<string, unknown>) {
  return writerFor(pool).submit({ kind: "progress", jobId, fence, progress }) as Promise<boolean>;
}

/** Records an attempt's result in this process's next batch. False: the attempt is stale (its receipt is kept). */
export function recordSuccessBatched(
  pool: pg.Pool,
  jobId: string,
  fence: string,
  result: unknown,
  extras: SuccessExtras = {},
) {
  return writerFor(pool).submit({ kind: "succeed", jobId, fence, result, ...extras }) as Promise<boolean>;
}
