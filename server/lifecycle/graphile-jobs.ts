/**
 * The graphile-worker job behind each Job: one per Job, keyed by the job id,
 * queued for the Job's next attempt.
 */
import type { Queryable } from "../db/schema.js";

/**
 * graphile-worker's own attempts only matter when our wrapper itself fails to
 * record an outcome (database down): the wrapper counts the job's attempts.
 */
export const GRAPHILE_MAX_ATTEMPTS = 25;

/**
 * Queues the graphile job that runs a Job's next attempt, keyed by the job id:
 * one graphile job per Job. If the key is held by a running (locked) graphile
 * job, add_job gives the key to the new one and retires the locked one.
 */
export async function queueAttempt(
  db: Queryable,
  task: { type: string; queue?: string | undefined },
  job: { jobId: string; runAt: Date | null; priority: number },
): Promise<void> {
  await db.query(
    "SELECT graphile_worker.add_job($1, json_build_object('jobId', $2::text), $3, coalesce($4, now()), $5, $2::text, $6)",
    [task.type, job.jobId, task.queue ?? null, job.runAt, GRAPHILE_MAX_ATTEMPTS, job.priority],
  );
}
