import { useMutation } from "@tanstack/react-query";
import type { JobEvent } from "../../../shared/events.js";
import { canTransition } from "../../../shared/states.js";
import { JobExtras } from "../components/JobExtras.js";
import { JobProgress } from "../components/JobProgress.js";
import { StatusBadge } from "../components/StatusBadge.js";
import { useJob } from "../hooks/jobs.js";
import { errorMessage } from "../lib/errors.js";
import { useTRPC } from "../trpc.js";

interface Attempt {
  attempt: number;
  startedAt: Date | undefined;
  endedAt: Date | undefined;
  events: JobEvent[];
}

/** Groups the timeline by attempt: start, end, duration, errors and retry times. */
function attemptsOf(events: JobEvent[]): Attempt[] {
  const attempts: Attempt[] = [];
  for (const event of events) {
    let current = attempts.at(-1);
    if (!current || (event.kind === "transition" && event.status === "running") || event.attempt !== current.attempt) {
      current = { attempt: event.attempt, startedAt: undefined, endedAt: undefined, events: [] };
      attempts.push(current);
    }
    if (event.kind === "transition" && event.status === "running") current.startedAt = event.at;
    if (event.kind === "transition" && ["succeeded", "failed", "retrying", "cancelled"].includes(event.status)) {
      current.endedAt = event.at;
    }
    current.events.push(event);
  }
  return attempts;
}

const duration = (a: Date, b: Date) => {
  const ms = b.getTime() - a.getTime();
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
};

export function JobDetail({ jobId }: { jobId: string }) {
  const trpc = useTRPC();
  const { job, events, error, isLoading } = useJob(jobId);
  const cancel = useMutation(trpc.jobs.cancel.mutationOptions());
  const retry = useMutation(trpc.jobs.retry.mutationOptions());
  if (isLoading) return <p className="loading">Loading job…</p>;
  if (error || !job) {
    return (
      <p className="error" role="alert">
        {error?.message ?? "Job not found"} <a href="#/jobs">Back to jobs</a>
      </p>
    );
  }
  const actionError = cancel.error ?? retry.error;
  return (
    <section aria-labelledby="job-title">
      <p>
        <a href="#/jobs">← Jobs</a>
      </p>
      <div className="page-head">
        <h1 id="job-title">
          {job.type} <span className="mono muted">{job.id}</span>
        </h1>
        <StatusBadge status={job.status} runAt={job.runAt} />
      </div>
      <div className="actions">
        {(job.status === "pending" || job.status === "retrying") && (
          <button type="button" onClick={() => cancel.mutate({ jobId })} disabled={cancel.isPending}>
            Cancel
          </button>
        )}
        {canTransition(job.status, "pending") && (
          <button type="button" onClick={() => retry.mutate({ jobId })} disabled={retry.isPending}>
            Retry
          </button>
        )}
      </div>
      {actionError && (
        <p className="error" role="alert">
          {errorMessage(actionError)}
        </p>
      )}
      <dl className="facts">
        <dt>Attempt</dt>
        <dd>
          {job.attempt} of {job.maxAttempts}
        </dd>
        <dt>Progress</dt>
        <dd>
          <JobProgress job={job} />
        </dd>
        <dt>Created</dt>
        <dd>{job.createdAt.toLocaleString()}</dd>
        <dt>Run at</dt>
        <dd>
          {job.runAt.toLocaleString()} · priority {job.priority}
        </dd>
        {job.workflowId && (
          <>
            <dt>Workflow</dt>
            <dd>
              <a className="mono" href={`#/workflows/${job.workflowId}`}>
                step of {job.workflowId}
              </a>
            </dd>
          </>
        )}
        {job.idempotencyKey && (
          <>
            <dt>Idempotency key</dt>
            <dd className="mono">{job.idempotencyKey}</dd>
          </>
        )}
        {job.reason && (
          <>
            <dt>Dead-letter reason</dt>
            <dd>{job.reason}</dd>
          </>
        )}
      </dl>
      <div className="grid2">
        <div>
          <h2>Payload</h2>
          <pre className="code">{JSON.stringify(job.payload, null, 2)}</pre>
        </div>
        <div>
          <h2>Result</h2>
          {job.result ? (
            <pre className="code">{JSON.stringify(job.result, null, 2)}</pre>
          ) : (
            <p className="muted">No result yet.</p>
          )}
        </div>
      </div>
      <JobExtras job={job} />
      {job.error && (
        <div>
          <h2>Error</h2>
          <p className="error">{job.error}</p>
          {job.errorStack && (
            <details>
              <summary>Stack</summary>
              <pre className="code">{job.errorStack}</pre>
            </details>
          )}
        </div>
      )}
      <h2>Timeline</h2>
      <ol className="timeline">
        {attemptsOf(events).map((attempt) => (
          <li key={`${attempt.attempt}-${attempt.events[0]?.id}`}>
            <h3>
              {attempt.attempt === 0 ? "Queued" : `Attempt ${attempt.attempt}`}
              {attempt.startedAt && attempt.endedAt && (
                <span className="muted"> · {duration(attempt.startedAt, attempt.endedAt)}</span>
              )}
            </h3>
            <ul>
              {attempt.events.map((e) => (
                <li key={e.id}>
                  <time dateTime={e.at.toISOString()}>{e.at.toLocaleTimeString()}</time>{" "}
                  {e.kind === "progress" ? (
                    <span className="muted">
                      progress {Math.round(Number(e.progress?.percent ?? 0))}%
                      {e.progress?.note ? ` · ${String(e.progress.note)}` : ""}
                    </span>
                  ) : (
                    <StatusBadge status={e.status} />
                  )}
                  {e.reason && <span> · {e.reason}</span>}
                  {e.error && <span className="error"> · {e.error}</span>}
                  {e.nextRunAt && <span className="muted"> · next try {e.nextRunAt.toLocaleTimeString()}</span>}
                </li>
              ))}
            </ul>
          </li>
        ))}
      </ol>
    </section>
  );
}
