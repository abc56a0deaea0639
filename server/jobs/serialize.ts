/** Turns a stored Job into the API's job object. */
import type { JobView } from "../../shared/job-view.js";
import type { DlqReason, JobStatus } from "../../shared/states.js";
import type { Job } from "../generated/prisma/client.js";

export function toJobView(job: Job): JobView {
  // payload, progress and result were validated against the job type's schemas
  // when written, so the stored JSON has the registry's shapes.
  return {
    id: job.id,
    ownerId: job.ownerId,
    type: job.type,
    status: job.status as JobStatus,
    payload: job.payload,
    progress: job.progress ?? null,
    result: job.result ?? null,
    error: job.error,
    errorStack: job.errorStack,
    attempt: job.attempt,
    maxAttempts: job.maxAttempts,
    createdAt: job.createdAt,
    updatedAt: job.updatedAt,
    startedAt: job.startedAt,
    completedAt: job.completedAt,
    runAt: job.runAt,
    priority: job.priority,
    idempotencyKey: job.idempotencyKey,
    workflowId: job.workflowId,
    reason: job.status === "failed" ? (job.dlqReason as DlqReason | null) : null,
    inDeadLetterQueue: job.status === "failed" && job.discardedAt === null,
  } as JobView;
}
