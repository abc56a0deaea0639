/**
 * The job object the API returns, typed from the job registry: narrowing on
 * `type` narrows payload, progress and result too.
 */
import type { JobPayload, JobProgress, JobResult, JobType } from "./jobs.js";
import type { DlqReason, JobStatus } from "./states.js";

interface JobViewBase {
  id: string;
  ownerId: string;
  status: JobStatus;
  error: string | null;
  errorStack: string | null;
  attempt: number;
  maxAttempts: number;
  createdAt: Date;
  updatedAt: Date;
  startedAt: Date | null;
  completedAt: Date | null;
  runAt: Date;
  priority: number;
  idempotencyKey: string | null;
  /** The workflow this job is a step of (see workflows.get), or null. */
  workflowId: string | null;
  /** Set while the job is failed: why it entered the dead-letter queue. */
  reason: DlqReason | null;
  /** True for a failed job that has not been discarded. */
  inDeadLetterQueue: boolean;
}

export type JobView = {
  [T in JobType]: JobViewBase & {
    type: T;
    payload: JobPayload<T>;
    progress: JobProgress<T> | null;
    result: JobResult<T> | null;
  };
}[JobType];
