import { useQuery } from "@tanstack/react-query";
import { formatCountdown, useNow } from "../lib/countdown.js";
import { useTRPC } from "../trpc.js";

/** The recurring tasks declared on the server, with a countdown to each one's next run (UTC cron). */
export function Schedules() {
  const trpc = useTRPC();
  const now = useNow();
  // Refetched each minute: the next run moves on once a slot has passed, and the last run with it.
  const schedules = useQuery({ ...trpc.schedules.list.queryOptions(), refetchInterval: 60_000 });
  return (
    <section aria-labelledby="schedules-title">
      <h1 id="schedules-title">Schedules</h1>
      <p className="muted">
        Recurring tasks, declared next to their code (server/tasks/housekeeping.ts). Cron times are UTC; each slot runs
        once, whichever worker takes it.
      </p>
      {schedules.isLoading ? (
        <p className="loading">Loading…</p>
      ) : schedules.error ? (
        <p className="error">{schedules.error.message}</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Task</th>
                <th scope="col">Cron (UTC)</th>
                <th scope="col">Next run</th>
                <th scope="col">Last run</th>
              </tr>
            </thead>
            <tbody>
              {(schedules.data ?? []).map((schedule) => (
                <tr key={schedule.name} data-schedule={schedule.name}>
                  <td>
                    <strong className="mono">{schedule.name}</strong>
                    {schedule.jobType && <span className="badge badge-scheduled">{schedule.jobType} job</span>}
                    <div className="muted small">{schedule.description}</div>
                  </td>
                  <td className="mono nowrap">{schedule.cron}</td>
                  <td>
                    {schedule.nextRunAt ? (
                      <time dateTime={schedule.nextRunAt.toISOString()} title={schedule.nextRunAt.toLocaleString()}>
                        <span className="countdown">{formatCountdown(schedule.nextRunAt, now)}</span>
                        <div className="muted small">{schedule.nextRunAt.toLocaleString()}</div>
                      </time>
                    ) : (
                      <span className="muted">none within a year</span>
                    )}
                  </td>
                  <td>
                    {schedule.lastRunAt ? (
                      <time dateTime={schedule.lastRunAt.toISOString()}>{schedule.lastRunAt.toLocaleString()}</time>
                    ) : (
                      <span className="muted">not yet</span>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
