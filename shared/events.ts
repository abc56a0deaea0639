/**
 * The job event stream's contract: what jobs.events yields and the UI replays.
 * Each event is one row of the append-only job event log.
 */
import type { DlqReason, JobStatus } from "./states.js";

/**
 * transition and progress: a job's. workflow: a workflow's state or progress
 * changed; then jobId is the workflow's id, jobType is "workflow", status is
 * the workflow's (see shared/workflows.ts) and progress is
 * { percent, stepsDone, stepsTotal, name }.
 */
export type JobEventKind = "transition" | "progress" | "workflow";

export interface JobEvent {
  /** Opaque cursor; pass it back as lastEventId to resume after this event. */
  id: string;
  jobId: string;
  jobType: string;
  kind: JobEventKind;
  /** The job's status after this event. */
  status: JobStatus;
  attempt: number;
  at: Date;
  progress?: Record<string, unknown> | undefined;
  error?: string | undefined;
  reason?: DlqReason | undefined;
  /** For a `retrying` transition: when the next attempt runs. */
  nextRunAt?: Date | undefined;
}
