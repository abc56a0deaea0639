/**
 * The one way to create jobs. It validates every item with the shared schema,
 * then atomically inserts the jobs and their first events and queues the
 * graphile-worker jobs (add_jobs): ONE statement when no item carries an
 * idempotency key, else one transaction that claims the keys first. A failure
 * leaves neither a record nor a queued job. The doorbell rings once it has
 * committed (doorbell.ts).
 */
import { hash, randomUUID } from "node:crypto";
import type pg from "pg";
import type { JobType } from "../../shared/jobs.js";
import { type EnqueueItem, enqueueItemSchema } from "../../shared/jobs.js";
import { Batcher } from "../db/batcher.js";
import { perPool, withTransaction } from "../db/pool.js";
import type { Queryable } from "../db/schema.js";
import { isDatabaseUnavailable } from "../db/unavailable.js";
import { FieldIssuesError, IdempotencyConflictError } from "../errors.js";
import { type BucketLimits, takeJobTokens } from "../limits/buckets.js";
import { taskFor } from "../tasks/index.js";
import type { TaskDefinition } from "../tasks/types.js";
import { ringAfter } from "./doorbell.js";
import { GRAPHILE_MAX_ATTEMPTS } from "./graphile-jobs.js";

export interface EnqueueOptions {
  idempotencyTtlHours: number;
  /**
   * Draws the call's jobs from this user's enqueue and email buckets first
   * (server/limits/buckets.ts): calls made by a user pass it; schedules don't.
   */
  rateLimit?: { userId: string; limits: BucketLimits };
}

/**
 * Stable JSON: object keys sorted, so equal payloads fingerprint equally. Built
 * by string concatenation: it runs for every item of a 10,000-item batch.
 */
function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object" || value instanceof Date) return JSON.stringify(value);
  if (Array.isArray(value)) {
    let out = "[";
    // JSON.stringify gives undefined for undefined and functions: an empty slot, as join would.
    for (let i = 0; i < value.length; i++) out += `${i > 0 ? "," : ""}${canonicalJson(value[i]) ?? ""}`;
    return `${out}]`;
  }
  const record = value as Record<string, unknown>;
  let out = "{";
  for (const key of Object.keys(record).sort()) {
    const entry = record[key];
    if (entry === undefined) continue;
    out += `${out.length > 1 ? "," : ""}${JSON.stringify(key)}:${canonicalJson(entry)}`;
  }
  return `${out}}`;
}

export function payloadFingerprint(type: string, payload: unknown): string {
  return hash("sha256", canonicalJson({ type, payload }), "hex");
}

/**
 * Payload checks that need the database (a webhook endpoint must be the
 * owner's), reported like schema errors: issues naming the field, so the
 * client gets BAD_REQUEST with data.zodError.issues.
 */
async function checkOwnership(pool: pg.Pool, ownerId: string, items: EnqueueItem[], batch: boolean): Promise<void> {
  const issues: FieldIssuesError["issues"] = [];
  const checked = new Map<string, Promise<{ field: string; message: string } | undefined>>();
  for (const [index, item] of items.entries()) {
    const task = taskFor(item.type) as TaskDefinition<JobType>;
    const { checkForOwner, ownerCheckKey } = task;
    if (!checkForOwner) continue;
    const check = () => checkForOwner({ pool }, ownerId, item.payload as never);
    const key = ownerCheckKey && `${item.type}:${ownerCheckKey(item.payload as never)}`;
    if (key && !checked.has(key)) checked.set(key, check());
    const problem = await (key ? checked.get(key) : check());
    if (problem) {
      const path = [...(batch ? ["jobs", index] : []), "payload", problem.field];
      issues.push({ code: "custom", path, message: problem.message });
    }
  }
  if (issues.length > 0) throw new FieldIssuesError(issues);
}

interface PreparedJob {
  id: string;
  item: EnqueueItem;
  fingerprint: string;
  /** The input positions this job answers: several when a key repeats in the batch. */
  positions: number[];
}

/**
 * Enqueues `items` for `ownerId` and returns their job ids in input order.
 * Items sharing an idempotency key (in the batch or with an earlier call) get
 * the same id; a key reused with another payload throws IdempotencyConflictError.
 */
export async function enqueueJobs(
  pool: pg.Pool,
  ownerId: string,
  rawItems: readonly unknown[],
  options: EnqueueOptions,
): Promise<string[]> {
  const items = rawItems.map((raw) => enqueueItemSchema.parse(raw));
  const batch = items.length > 1;
  await checkOwnership(pool, ownerId, items, batch);
  if (options.rateLimit) {
    // Every job of the call counts, a repeated idempotency key included; a refused call enqueues nothing.
    const counts = { jobs: items.length, emails: items.filter((item) => item.type === "email").length };
    await takeJobTokens(pool, options.rateLimit.userId, options.rateLimit.limits, counts, batch ? ["jobs"] : []);
  }

  // Resolve repeats of a key inside the batch first: same payload -> same job.
  const ids: string[] = new Array(items.length);
  const byKey = new Map<string, PreparedJob>();
  const fresh: PreparedJob[] = [];
  for (const [index, item] of items.entries()) {
    const fingerprint = payloadFingerprint(item.type, item.payload);
    const key = item.idempotencyKey;
    const seen = key === undefined ? undefined : byKey.get(key);
    if (seen) {
      if (seen.fingerprint !== fingerprint) throw new IdempotencyConflictError(key as string, index);
      seen.positions.push(index);
      ids[index] = seen.id;
      continue;
    }
    const job: PreparedJob = { id: randomUUID(), item, fingerprint, positions: [index] };
    if (key !== undefined) byKey.set(key, job);
    ids[index] = job.id;
    fresh.push(job);
  }

  // No keys to claim: one statement, atomic on its own, one round trip.
  if (byKey.size === 0) {
    // Small enqueues join those in flight in this process: one statement, one commit for all of them.
    const records = JSON.stringify(jobRecords(ownerId, fresh));
    // A big enqueue is a batch of its own; small ones share a statement.
    await ringAfter(
      pool,
      records.length > MAX_SHARED_JSON ? insertJobs(pool, records) : enqueueBatcher(pool).submit(records),
    );
    return ids;
  }

  return ringAfter(
    pool,
    withTransaction(pool, async (client) => {
      const existing = await claimIdempotencyKeys(client, ownerId, [...byKey.values()], options.idempotencyTtlHours);
      // Jobs whose key already belongs to an earlier job are not created again.
      const toCreate = fresh.filter((job) => {
        const key = job.item.idempotencyKey;
        const found = key === undefined ? undefined : existing.get(key);
        if (!found) return true;
        if (found.fingerprint !== job.fingerprint) {
          throw new IdempotencyConflictError(key as string, batch ? job.positions[0] : undefined);
        }
        for (const position of job.positions) ids[position] = found.jobId;
        return false;
      });
      if (toCreate.length > 0) await insertJobs(client, JSON.stringify(jobRecords(ownerId, toCreate)));
      return ids;
    }),
  );
}

/**
 * Claims each key for its new job, or returns the live owner of the key. A key
 * whose row expired is taken over as if new. Keys are claimed in sorted order so
 * two batches sharing keys cannot deadlock; a concurrent claimer of the same key
 * waits for ours to commit (ON CONFLICT) and then reads our row.
 */
async function claimIdempotencyKeys(
  client: pg.PoolClient,
  ownerId: string,
  jobs: PreparedJob[],
  ttlHours: number,
): Promise<Map<string, { jobId: string; fingerprint: string }>> {
  const existing = new Map<string, { jobId: string; fingerprint: string }>();
  if (jobs.length === 0) return existing;
  const sorted = [...jobs].sort((a, b) => ((a.item.idempotencyKey ?? "") < (b.item.idempotencyKey ?? "") ? -1 : 1));
  const keys = sorted.map((j) => j.item.idempotencyKey as string);
  const { rows: claimed } = await client.query<{ key: string }>(
    `INSERT INTO idempotency_keys (owner_id, key, fingerprint, job_id, expires_at)
     SELECT $1::uuid, k.key, k.fingerprint, k.job_id, now() + make_interval(secs => $5::float8 * 3600)
       FROM unnest($2::text[], $3::text[], $4::uuid[]) AS k(key, fingerprint, job_id)
     ON CONFLICT (owner_id, key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, job_id = EXCLUDED.job_id,
            created_at = now(), expires_at = EXCLUDED.expires_at
      WHERE idempotency_keys.expires_at <= now()
     RETURNING key`,
    [ownerId, keys, sorted.map((j) => j.fingerprint), sorted.map((j) => j.id), ttlHours],
  );
  const claimedKeys = new Set(claimed.map((r) => r.key));
  const taken = keys.filter((k) => !claimedKeys.has(k));
  if (taken.length > 0) {
    const { rows } = await client.query<{ key: string; fingerprint: string; job_id: string }>(
      "SELECT key, fingerprint, job_id FROM idempotency_keys WHERE owner_id = $1 AND key = ANY($2::text[])",
      [ownerId, taken],
    );
    for (const row of rows) existing.set(row.key, { jobId: row.job_id, fingerprint: row.fingerprint });
  }
  return existing;
}

/**
 * One statement: the jobs, their pending events and the graphile jobs.
 * Data-modifying CTEs always run; the add_jobs CTE runs because the final
 * SELECT reads it. The
 * events' foreign key to jobs is checked at the end of the statement, when the
 * jobs rows are there. A job with no runAt runs at the statement's now(), to
 * the millisecond as jobs.run_at stores it, the same instant in both tables.
 */
const INSERT_JOBS_SQL = `
  WITH input AS (
    SELECT x.id, x.owner_id, x.type, x.payload, x.max_attempts, x.queue, coalesce(x.run_at, now())::timestamptz(3) AS run_at,
           coalesce(x.priority, 0::smallint) AS priority, x.idempotency_key, x.payload_fingerprint, x.workflow_id
      FROM jsonb_to_recordset($1::jsonb) AS x(
        id uuid, owner_id uuid, type text, payload jsonb, max_attempts int, queue text, run_at timestamptz,
        priority smallint, idempotency_key text, payload_fingerprint text, workflow_id uuid)
  ), created AS (
    INSERT INTO jobs (id, owner_id, type, payload, status, max_attempts, run_at, priority,
                      idempotency_key, payload_fingerprint, workflow_id)
    SELECT id, owner_id, type, payload, 'pending', max_attempts, run_at, priority, idempotency_key, payload_fingerprint,
           workflow_id
      FROM input
  ), first_events AS (
    INSERT INTO job_events (job_id, owner_id, job_type, kind, status, attempt)
    SELECT id, owner_id, type, 'transition', 'pending', 0 FROM input
  ), queued AS (
    SELECT count(*) AS n FROM graphile_worker.add_jobs(ARRAY(
      SELECT ROW(type, json_build_object('jobId', id), queue, run_at, $2::smallint, id::text, priority, NULL)::graphile_worker.job_spec
        FROM input))
  )
  SELECT n FROM queued`;

function jobRecords(ownerId: string, jobs: Pick<PreparedJob, "id" | "item" | "fingerprint">[], workflowId?: string) {
  return jobs.map(({ id, item, fingerprint }) => {
    const task = taskFor(item.type);
    return {
      id,
      owner_id: ownerId,
      type: item.type,
      payload: item.payload,
      max_attempts: task.maxAttempts,
      queue: task.queue,
      run_at: item.runAt,
      priority: item.priority,
      idempotency_key: item.idempotencyKey,
      payload_fingerprint: fingerprint,
      workflow_id: workflowId,
    };
  });
}

/**
 * Enqueues a workflow's steps inside the caller's transaction (the one that
 * holds the workflow's lock and records what released them). The payloads
 * were already checked by their schemas.
 */
export async function insertStepJobs(
  client: pg.PoolClient,
  ownerId: string,
  workflowId: string,
  steps: { id: string; type: JobType; payload: unknown }[],
): Promise<void> {
  if (steps.length === 0) return;
  const jobs = steps.map(({ id, type, payload }) => ({
    id,
    item: { type, payload } as EnqueueItem,
    fingerprint: payloadFingerprint(type, payload),
  }));
  await insertJobs(client, JSON.stringify(jobRecords(ownerId, jobs, workflowId)));
}

/** Inserts jobs given as a JSON array of job records (see jobRecords). */
async function insertJobs(db: Queryable, recordsJson: string): Promise<void> {
  await db.query({
    name: "typed_jobs_insert_jobs",
    text: INSERT_JOBS_SQL,
    values: [recordsJson, GRAPHILE_MAX_ATTEMPTS],
  });
}

/** An enqueue whose records' JSON is longer than this goes alone: a shared statement stays small. */
const MAX_SHARED_JSON = 256 * 1024;

/** Joins JSON arrays of records into one, without parsing them again. */
function joinJsonArrays(arrays: string[]): string {
  return `[${arrays.map((array) => array.slice(1, -1)).join(",")}]`;
}

/**
 * Small enqueues of this process share a statement and a commit. If the shared
 * statement fails, each enqueue runs alone (see Batcher), so an error reaches
 * only the caller whose jobs caused it; not when the database is unreachable,
 * since the statement may have committed and running each alone could insert
 * twice.
 */
const enqueueBatcher = perPool(
  (pool) =>
    new Batcher<string, void>(
      async (enqueues) => {
        await insertJobs(pool, enqueues.length === 1 ? (enqueues[0] as string) : joinJsonArrays(enqueues));
        return enqueues.map(() => undefined);
      },
      { slots: 2, maxBatch: 100, retryAlone: (error) => !isDatabaseUnavailable(error) },
    ),
);
