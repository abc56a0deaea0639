/**
 * The one way to create jobs. It validates every item with the shared schema,
 * then in ONE transaction resolves idempotency keys, inserts the jobs and their
 * first events, queues the graphile-worker jobs (add_jobs) and rings the events
 * doorbell. A rollback leaves neither a record nor a queued job.
 */
import { createHash, randomUUID } from "node:crypto";
import type pg from "pg";
import type { JobType } from "../../shared/jobs.js";
import { type EnqueueItem, enqueueItemSchema } from "../../shared/jobs.js";
import { withTransaction } from "../db/pool.js";
import { taskFor } from "../tasks/index.js";
import type { TaskDefinition } from "../tasks/types.js";
import { FieldIssuesError, IdempotencyConflictError } from "./errors.js";
import { EVENTS_CHANNEL, GRAPHILE_MAX_ATTEMPTS } from "./sql.js";

export interface EnqueueOptions {
  idempotencyTtlHours: number;
}

/** Stable JSON: object keys sorted, so equal payloads fingerprint equally. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value && typeof value === "object" && !(value instanceof Date)) {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

export function payloadFingerprint(type: string, payload: unknown): string {
  return createHash("sha256").update(canonicalJson({ type, payload })).digest("hex");
}

/**
 * Payload checks that need the database (a webhook endpoint must be the
 * owner's), reported like schema errors: issues naming the field, so the
 * client gets BAD_REQUEST with data.zodError.issues.
 */
async function checkOwnership(pool: pg.Pool, ownerId: string, items: EnqueueItem[], batch: boolean): Promise<void> {
  const issues: FieldIssuesError["issues"] = [];
  for (const [index, item] of items.entries()) {
    const task = taskFor(item.type) as TaskDefinition<JobType>;
    const problem = await task.checkForOwner?.({ pool }, ownerId, item.payload as never);
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

  // Resolve repeats of a key inside the batch first: same payload -> same job.
  const ids: string[] = new Array(items.length);
  const byKey = new Map<string, { index: number; fingerprint: string }>();
  const fresh: PreparedJob[] = [];
  items.forEach((item, index) => {
    const fingerprint = payloadFingerprint(item.type, item.payload);
    const key = item.idempotencyKey;
    if (key !== undefined) {
      const seen = byKey.get(key);
      if (seen) {
        if (seen.fingerprint !== fingerprint) throw new IdempotencyConflictError(key, index);
        ids[index] = ids[seen.index] as string;
        return;
      }
      byKey.set(key, { index, fingerprint });
    }
    const id = randomUUID();
    ids[index] = id;
    fresh.push({ id, item, fingerprint });
  });

  return withTransaction(pool, async (client) => {
    const keyed = fresh.filter((job) => job.item.idempotencyKey !== undefined);
    const existing = await claimIdempotencyKeys(client, ownerId, keyed, options.idempotencyTtlHours);
    // Jobs whose key already belongs to an earlier job are not created again.
    const toCreate = fresh.filter((job) => {
      const key = job.item.idempotencyKey;
      const found = key === undefined ? undefined : existing.get(key);
      if (!found) return true;
      const index = items.indexOf(job.item);
      if (found.fingerprint !== job.fingerprint) {
        throw new IdempotencyConflictError(key as string, batch ? index : undefined);
      }
      for (let i = 0; i < ids.length; i++) if (ids[i] === job.id) ids[i] = found.jobId;
      return false;
    });
    if (toCreate.length > 0) await insertJobs(client, ownerId, toCreate);
    return ids;
  });
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

async function insertJobs(client: pg.PoolClient, ownerId: string, jobs: PreparedJob[]): Promise<void> {
  const records = jobs.map(({ id, item, fingerprint }) => {
    const task = taskFor(item.type);
    return {
      id,
      type: item.type,
      payload: item.payload,
      max_attempts: task.maxAttempts,
      queue: task.queue ?? null,
      run_at: (item.runAt ?? new Date()).toISOString(),
      priority: item.priority ?? 0,
      idempotency_key: item.idempotencyKey ?? null,
      payload_fingerprint: fingerprint,
    };
  });
  await client.query(
    `WITH input AS (
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS x(
         id uuid, type text, payload jsonb, max_attempts int, queue text, run_at timestamptz,
         priority smallint, idempotency_key text, payload_fingerprint text)
     )
     INSERT INTO jobs (id, owner_id, type, payload, status, max_attempts, run_at, priority,
                       idempotency_key, payload_fingerprint)
     SELECT id, $1::uuid, type, payload, 'pending', max_attempts, run_at, priority,
            idempotency_key, payload_fingerprint
       FROM input`,
    [ownerId, JSON.stringify(records)],
  );
  await client.query(
    `INSERT INTO job_events (job_id, owner_id, job_type, kind, status, attempt)
     SELECT id, $1::uuid, type, 'transition', 'pending', 0
       FROM unnest($2::uuid[], $3::text[]) AS x(id, type)`,
    [ownerId, records.map((r) => r.id), records.map((r) => r.type)],
  );
  await client.query(
    `SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
       SELECT ROW(x.type, json_build_object('jobId', x.id), x.queue, x.run_at, $2::smallint,
                  x.id::text, x.priority, NULL)::graphile_worker.job_spec
         FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, type text, queue text, run_at timestamptz, priority smallint)
     ))`,
    [JSON.stringify(records), GRAPHILE_MAX_ATTEMPTS],
  );
  await client.query(`SELECT pg_notify('${EVENTS_CHANNEL}', '')`);
}
