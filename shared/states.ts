/**
 * Job states and the transitions between them, as data. The server's guarded
 * writes (server/lifecycle/transitions.ts) take their legal source states from here
 * and the UI asks `canTransition`, so an illegal move is an error, never a
 * silent overwrite.
 */
export const jobStatuses = ["pending", "running", "retrying", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof jobStatuses)[number];

/** Why a job ended in the dead-letter queue. */
export const dlqReasons = ["permanent_error", "retries_exhausted", "timeout", "crashed"] as const;
export type DlqReason = (typeof dlqReasons)[number];

/**
 * Legal transitions. `running -> running` does not exist: a worker that finds a
 * job still `running` (its previous attempt crashed) records the crash as
 * `running -> retrying` first.
 */
export const transitions: Readonly<Record<JobStatus, readonly JobStatus[]>> = {
  pending: ["running", "cancelled"],
  running: ["succeeded", "retrying", "failed", "cancelled"],
  retrying: ["running", "cancelled"],
  // failed is terminal for the worker; requeue (jobs.retry / dlq.requeue) starts a fresh series.
  failed: ["pending"],
  succeeded: [],
  cancelled: [],
};

/** States from which `to` may be entered, derived from `transitions`. */
export function statusesLeadingTo(to: JobStatus): JobStatus[] {
  return jobStatuses.filter((from) => transitions[from].includes(to));
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return transitions[from].includes(to);
}

export const terminalStatuses: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

export function isTerminal(status: JobStatus): boolean {
  return terminalStatuses.includes(status);
}
