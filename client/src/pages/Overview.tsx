import { jobStatuses } from "../../../shared/states.js";
import { StateCounts, useOverview } from "../components/StateCounts.js";
import { ThroughputChart } from "../components/ThroughputChart.js";

export function Overview() {
  const overview = useOverview();
  const data = overview.data;
  const total = data ? jobStatuses.reduce((sum, s) => sum + data.counts[s], 0) : 0;
  return (
    <section aria-labelledby="overview-title">
      <h1 id="overview-title">Queue overview</h1>
      <StateCounts />
      {overview.error && <p className="error">{overview.error.message}</p>}
      {data && (
        <>
          <div className="stack" role="img" aria-label="Share of jobs per state">
            {jobStatuses.map((s) =>
              data.counts[s] > 0 ? (
                <div
                  key={s}
                  className={`stack-part count-${s}`}
                  style={{ flexGrow: data.counts[s] }}
                  title={`${s}: ${data.counts[s]}`}
                />
              ) : null,
            )}
            {total === 0 && <div className="stack-empty">No jobs yet</div>}
          </div>
          <p>
            {total} jobs · {data.deadLetters} in the <a href="#/dlq">dead-letter queue</a>
          </p>
          <h2>Throughput, last 15 minutes</h2>
          <ThroughputChart buckets={data.throughput} />
        </>
      )}
    </section>
  );
}
