/** A job's progress bar with its percent and note; done jobs show full, failed ones red. */
import type { JobView } from "../../../shared/job-view.js";

export function JobProgress({ job }: { job: Pick<JobView, "status" | "progress"> }) {
  const percent = job.status === "succeeded" ? 100 : Math.round(job.progress?.percent ?? 0);
  const note = job.progress?.note;
  return (
    <div className={`progress progress-${job.status}`}>
      <div
        className="progress-track"
        role="progressbar"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={percent}
        aria-label={`Progress ${percent}%`}
      >
        <div className="progress-fill" style={{ width: `${percent}%` }} />
      </div>
      <span className="progress-label">
        {percent}%{note ? ` · ${note}` : ""}
      </span>
    </div>
  );
}
