/** Type-specific parts of a job's page: an export's download link, a webhook's attempt log and replay. */
import { useMutation, useQuery } from "@tanstack/react-query";
import type { JobView } from "../../../shared/job-view.js";
import { errorMessage } from "../lib/errors.js";
import { useTRPC } from "../trpc.js";

export function JobExtras({ job }: { job: JobView }) {
  if (job.type === "export" && job.result) {
    return (
      <p>
        <a className="button" href={job.result.downloadUrl}>
          Download ({job.result.rows} rows, {Math.ceil(job.result.bytes / 1024)} KB)
        </a>{" "}
        <span className="muted small">link valid until {new Date(job.result.expiresAt).toLocaleString()}</span>
      </p>
    );
  }
  if (job.type === "webhook") return <WebhookAttempts jobId={job.id} status={job.status} />;
  return null;
}

function WebhookAttempts({ jobId, status }: { jobId: string; status: JobView["status"] }) {
  const trpc = useTRPC();
  const attempts = useQuery(trpc.webhooks.attempts.queryOptions({ jobId }, { refetchOnMount: "always" }));
  const replay = useMutation(
    trpc.webhooks.replay.mutationOptions({
      onSuccess: ({ jobId: next }) => {
        window.location.hash = `#/jobs/${next}`;
      },
    }),
  );
  return (
    <div>
      <h2>Delivery attempts</h2>
      {(attempts.data ?? []).length === 0 ? (
        <p className="muted">No attempts yet.</p>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">Attempt</th>
                <th scope="col">Status</th>
                <th scope="col">Duration</th>
                <th scope="col">Response or error</th>
              </tr>
            </thead>
            <tbody>
              {(attempts.data ?? []).map((a) => (
                <tr key={`${a.attempt}-${a.at.toISOString()}`}>
                  <td>{a.attempt}</td>
                  <td>{a.statusCode ?? "—"}</td>
                  <td>{a.durationMs} ms</td>
                  <td className="mono small">{a.error ?? a.responseExcerpt}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {["succeeded", "failed"].includes(status) && (
        <button type="button" onClick={() => replay.mutate({ jobId })} disabled={replay.isPending}>
          Replay delivery
        </button>
      )}
      {replay.error && <p className="error">{errorMessage(replay.error)}</p>}
    </div>
  );
}
