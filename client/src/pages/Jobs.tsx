import { useState } from "react";
import { jobTypes } from "../../../shared/jobs.js";
import { jobStatuses } from "../../../shared/states.js";
import { JobProgress } from "../components/JobProgress.js";
import { StateCounts } from "../components/StateCounts.js";
import { StatusBadge } from "../components/StatusBadge.js";
import { type JobsFilter, useJobs } from "../hooks/jobs.js";

export function Jobs() {
  const [filter, setFilter] = useState<JobsFilter>({});
  const [search, setSearch] = useState("");
  const { jobs, error, isLoading, hasMore, loadMore, isLoadingMore } = useJobs(filter);
  return (
    <section aria-labelledby="jobs-title">
      <div className="page-head">
        <h1 id="jobs-title">Jobs</h1>
        <a className="button" href="#/new">
          New job
        </a>
      </div>
      <StateCounts onPick={(status) => setFilter({ ...filter, status })} />
      <form
        className="filters"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter({ ...filter, search: search.trim() || undefined });
        }}
      >
        <label>
          State{" "}
          <select
            value={filter.status ?? ""}
            onChange={(e) => setFilter({ ...filter, status: (e.target.value || undefined) as JobsFilter["status"] })}
          >
            <option value="">all</option>
            {jobStatuses.map((s) => (
              <option key={s}>{s}</option>
            ))}
          </select>
        </label>
        <label>
          Type{" "}
          <select
            value={filter.type ?? ""}
            onChange={(e) => setFilter({ ...filter, type: (e.target.value || undefined) as JobsFilter["type"] })}
          >
            <option value="">all</option>
            {jobTypes.map((t) => (
              <option key={t}>{t}</option>
            ))}
          </select>
        </label>
        <label>
          Find{" "}
          <input
            type="search"
            placeholder="job id or idempotency key"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
        </label>
        <button type="submit">Search</button>
        {(filter.status || filter.type || filter.search) && (
          <button
            type="button"
            className="link"
            onClick={() => {
              setFilter({});
              setSearch("");
            }}
          >
            Clear filters
          </button>
        )}
      </form>
      {error && (
        <p className="error" role="alert">
          Could not load jobs: {error.message}
        </p>
      )}
      {isLoading ? (
        <p className="loading">Loading jobs…</p>
      ) : jobs.length === 0 ? (
        <div className="empty">
          {filter.status || filter.type || filter.search ? (
            <p>No jobs match these filters.</p>
          ) : (
            <>
              <p>No jobs yet.</p>
              <a href="#/new">Start one</a>
            </>
          )}
        </div>
      ) : (
        <div className="table-wrap">
          <table className="jobs">
            <thead>
              <tr>
                <th scope="col">Job</th>
                <th scope="col">Type</th>
                <th scope="col">State</th>
                <th scope="col">Attempt</th>
                <th scope="col">Progress</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {jobs.map((job) => (
                <tr key={job.id} data-job-id={job.id} data-status={job.status}>
                  <td>
                    <a href={`#/jobs/${job.id}`} className="mono">
                      {job.id.slice(0, 8)}
                    </a>
                    {job.idempotencyKey && <div className="muted small">key {job.idempotencyKey}</div>}
                  </td>
                  <td>{job.type}</td>
                  <td>
                    <StatusBadge status={job.status} runAt={job.runAt} />
                    {job.priority !== 0 && <div className="muted small">priority {job.priority}</div>}
                  </td>
                  <td>
                    {job.attempt}/{job.maxAttempts}
                  </td>
                  <td>
                    <JobProgress job={job} />
                  </td>
                  <td>
                    <time dateTime={job.createdAt.toISOString()}>{job.createdAt.toLocaleTimeString()}</time>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {hasMore && (
        <button type="button" onClick={() => void loadMore()} disabled={isLoadingMore}>
          {isLoadingMore ? "Loading…" : "Load more"}
        </button>
      )}
    </section>
  );
}
