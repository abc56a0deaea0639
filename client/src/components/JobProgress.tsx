/** Progress bars: a job's (percent and note; done jobs show full, failed ones red) and the shared bar itself. */
import type { ReactNode } from "react";
import type { JobView } from "../../../shared/job-view.js";

export function ProgressBar({
  status,
  percent,
  ariaLabel,
  children,
}: {
  status: string;
  percent: number;
  ariaLabel: string;
  children: ReactNode;
}) {
  return (
    <div className={`progress progress-${status}`}>
      <div
        className="progress-track"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-label={ariaLabel}
      >
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      {children}
    </div>
  );
}

export function JobProgress({ job }: { job: Pick<JobView, "status" | "progress"> }) {
  const percent = job.status === "succeeded" ? 100 : Math.round(job.progress?.percent ?? 0);
  const note = job.progress?.note;
  return (
    <ProgressBar status={job.status} percent={percent} ariaLabel={`Progress ${percent}%`}>
      <span className="progress-label">
        {percent}%{note ? ` · ${note}` : ""}
      </span>
    </ProgressBar>
  );
}
