import type { JobStatus } from "../../../shared/states.js";
import { formatCountdown, useNow } from "../lib/countdown.js";

/**
 * A job's state. A pending or retrying job whose run time is still ahead (a
 * delayed job, or a retry waiting out its backoff) shows as scheduled, with a
 * live countdown to when it may run.
 */
export function StatusBadge({ status, runAt }: { status: JobStatus; runAt?: Date | undefined }) {
  const waiting = (status === "pending" || status === "retrying") && runAt !== undefined;
  if (waiting) return <ScheduledBadge status={status} runAt={runAt} />;
  return <span className={`badge badge-${status}`}>{status}</span>;
}

function ScheduledBadge({ status, runAt }: { status: JobStatus; runAt: Date }) {
  const now = useNow();
  // A second of slack: the server's clock and this one differ a little, and a job due now is not "scheduled".
  if (runAt.getTime() - now.getTime() <= 1000) return <span className={`badge badge-${status}`}>{status}</span>;
  return (
    <span className={`badge badge-${status} badge-scheduled`} title={`Runs at ${runAt.toLocaleString()}`}>
      {status === "retrying" ? "retrying" : "scheduled"} ·{" "}
      <span className="countdown">{formatCountdown(runAt, now)}</span>
    </span>
  );
}
