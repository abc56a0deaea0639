/**
 * The worker's two hot writes, start ("running") and success ("succeeded"),
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

export type WriteRequest =
  | { kind: "start"; jobId: string; processId: string | null }
  | { kind: "succeed"; jobId: string; fence: string; result: unknown };

/** What an attempt needs of its job, as a start returns it. */
export type AttemptRow = Pick<
  JobRow,
  "id" | "status" | "attempt" | "max_attempts" | "fence" | "payload" | "workflow_id"
>;

/** A start's updated row (undefined: skipped), or whether a success was recorded. */
export type WriteOutcome = AttemptRow | undefined | boolean;

/**
 * Runs a batch: starts (pending|retrying -> running, attempt and fence bumped)
 * and successes (running -> succeeded, for the attempt holding the fence), each
 * with its event row, in one statement. A job's start and its success are
 * never in the same batch: the success is requested after the start returned.
 */
export async function writeBatch(pool: pg.Pool, requests: WriteRequest[]): Promise<WriteOutcome[]> {
  const starts = requests.flatMap((r) => (r.kind === "start" ? [r] : []));
  const successes = requests.flatMap((r) => (r.kind === "succeed" ? [r] : []));
  const { rows } = await pool.query<AttemptRow & { op: "start" | "succeed" }>({
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
                 jobs.fence::text AS fence, jobs.payload, jobs.workflow_id
     ), d AS (
       UPDATE jobs SET status = 'succeeded', updated_at = now(), result = b.result, completed_at = now()
         FROM unnest($4::uuid[], $5::bigint[], $6::jsonb[]) AS b(id, fence, result)
        WHERE jobs.id = b.id AND jobs.fence = b.fence AND jobs.status = 'running'
       RETURNING jobs.id, jobs.owner_id, jobs.type, jobs.status, jobs.attempt
     ), e AS (
       INSERT INTO job_events (job_id, owner_id, job_type, kind, status, attempt)
       SELECT id, owner_id, type, 'transition', status, attempt
         FROM (SELECT id, owner_id, type, status, attempt FROM d
               UNION ALL SELECT id, owner_id, type, status, attempt FROM s) AS changed
     )
     SELECT 'start' AS op, s.id, s.status, s.attempt, s.max_attempts, s.fence, s.payload, s.workflow_id FROM s
     UNION ALL
     SELECT 'succeed' AS op, d.id, NULL, NULL, NULL, NULL, NULL, NULL FROM d`,
    values: [
      starts.map((r) => r.jobId),
      starts.map((r) => r.processId),
      statusesLeadingTo("running"),
      successes.map((r) => r.jobId),
      successes.map((r) => r.fence),
      successes.map((r) => JSON.stringify(r.result)),
    ],
  });
  if (rows.length > 0) doorbellFor(pool).ring(); // committed: the doorbell rule (doorbell.ts)
  const started = new Map<string, AttemptRow>();
  const succeeded = new Set<string>();
  for (const { op, ...row } of rows) {
    if (op === "start") started.set(row.id, row);
    else succeeded.add(row.id);
  }
  // A job asked to start twice in one batch starts once: the first request gets the row.
  const handedOut = new Set<string>();
  return requests.map((r) => {
    if (r.kind !== "start") return succeeded.has(r.jobId);
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

/** Records an attempt's result in this process's next batch. False: the attempt is stale. */
export function recordSuccessBatched(pool: pg.Pool, jobId: string, fence: string, result: unknown) {
  return writerFor(pool).submit({ kind: "succeed", jobId, fence, result }) as Promise<boolean>;
}
