/**
 * The event reducer: applies one job event to a job as the list and detail
 * views hold it. Pure, so it is tested without a browser.
 */
import type { JobEvent } from "../../../shared/events.js";
import type { JobView } from "../../../shared/job-view.js";

/** The job after `event`; events for other jobs, or older than what the job shows, change nothing. */
export function applyEvent(job: JobView, event: JobEvent): JobView {
  if (event.jobId !== job.id) return job;
  if (event.kind === "progress") {
    // A progress report from an older attempt than the one shown is stale.
    if (event.attempt < job.attempt || job.status !== "running") return job;
    return { ...job, progress: (event.progress ?? null) as JobView["progress"], updatedAt: event.at } as JobView;
  }
  const next = {
    ...job,
    status: event.status,
    attempt: event.attempt,
    updatedAt: event.at,
  } as JobView;
  switch (event.status) {
    case "running":
      return { ...next, startedAt: event.at, progress: null, error: null } as JobView;
    case "retrying":
      return { ...next, error: event.error ?? null, runAt: event.nextRunAt ?? job.runAt } as JobView;
    case "failed":
      return {
        ...next,
        error: event.error ?? job.error,
        reason: event.reason ?? job.reason,
        completedAt: event.at,
        inDeadLetterQueue: true,
      } as JobView;
    case "succeeded":
    case "cancelled":
      return { ...next, completedAt: event.at } as JobView;
    case "pending":
      return { ...next, error: null, reason: null, completedAt: null, inDeadLetterQueue: false } as JobView;
  }
}

/** Applies events to a list, keyed by job id; returns the same array when nothing changed. */
export function applyEventToList(jobs: JobView[], event: JobEvent): JobView[] {
  const index = jobs.findIndex((j) => j.id === event.jobId);
  const current = jobs[index];
  if (index < 0 || !current) return jobs;
  const updated = applyEvent(current, event);
  if (updated === current) return jobs;
  const copy = jobs.slice();
  copy[index] = updated;
  return copy;
}
