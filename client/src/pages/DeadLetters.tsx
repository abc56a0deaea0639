import { useInfiniteQuery, useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";
import { dlqReasons } from "../../../shared/states.js";
import { useJobEvents } from "../hooks/event-stream.js";
import { errorMessage } from "../lib/errors.js";
import { useTRPC } from "../trpc.js";

type Reason = (typeof dlqReasons)[number];

export function DeadLetters() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const [reason, setReason] = useState<Reason | "">("");
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const list = useInfiniteQuery(
    trpc.dlq.list.infiniteQueryOptions({ limit: 50 }, { getNextPageParam: (p) => p.nextCursor ?? undefined }),
  );
  const refresh = () => {
    setSelected(new Set());
    void queryClient.invalidateQueries({ queryKey: trpc.dlq.list.infiniteQueryKey() });
  };
  // A job entering or leaving the queue changes the list: refresh it.
  useJobEvents((event) => {
    if (event.kind === "transition" && (event.status === "failed" || event.status === "pending")) refresh();
  });
  const requeue = useMutation(trpc.dlq.requeueMany.mutationOptions({ onSuccess: refresh }));
  const discard = useMutation(trpc.dlq.discardMany.mutationOptions({ onSuccess: refresh }));
  const actionError = requeue.error ?? discard.error;
  const items = (list.data?.pages.flatMap((p) => p.items) ?? []).filter((i) => !reason || i.reason === reason);
  const toggle = (id: string) => {
    const next = new Set(selected);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    setSelected(next);
  };
  const filter = { filter: { reason: reason || undefined } };
  const busy = requeue.isPending || discard.isPending;
  return (
    <section aria-labelledby="dlq-title">
      <h1 id="dlq-title">Dead-letter queue</h1>
      <p className="muted">
        Jobs that failed for good. Requeue sends them back for a fresh series of attempts; discard keeps them failed but
        out of this queue.
      </p>
      <div className="filters">
        <label>
          Reason{" "}
          <select value={reason} onChange={(e) => setReason(e.target.value as Reason | "")}>
            <option value="">all</option>
            {dlqReasons.map((r) => (
              <option key={r}>{r}</option>
            ))}
          </select>
        </label>
        <button
          type="button"
          disabled={busy || selected.size === 0}
          onClick={() => requeue.mutate({ jobIds: [...selected] })}
        >
          Requeue selected ({selected.size})
        </button>
        <button
          type="button"
          disabled={busy || selected.size === 0}
          onClick={() => discard.mutate({ jobIds: [...selected] })}
        >
          Discard selected
        </button>
        <button type="button" disabled={busy || items.length === 0} onClick={() => requeue.mutate(filter)}>
          Requeue all{reason ? ` (${reason})` : ""}
        </button>
        <button type="button" disabled={busy || items.length === 0} onClick={() => discard.mutate(filter)}>
          Discard all{reason ? ` (${reason})` : ""}
        </button>
      </div>
      {actionError && (
        <p className="error" role="alert">
          {errorMessage(actionError)}
        </p>
      )}
      {list.isLoading ? (
        <p className="loading">Loading…</p>
      ) : list.error ? (
        <p className="error">{list.error.message}</p>
      ) : items.length === 0 ? (
        <div className="empty">
          <p>The dead-letter queue is empty. Nothing needs you.</p>
        </div>
      ) : (
        <div className="table-wrap">
          <table>
            <thead>
              <tr>
                <th scope="col">
                  <span className="visually-hidden">Select</span>
                </th>
                <th scope="col">Job</th>
                <th scope="col">Type</th>
                <th scope="col">Reason</th>
                <th scope="col">Last error</th>
                <th scope="col">Failed</th>
                <th scope="col">Actions</th>
              </tr>
            </thead>
            <tbody>
              {items.map((item) => (
                <tr key={item.id} data-job-id={item.id}>
                  <td>
                    <input
                      type="checkbox"
                      aria-label={`Select job ${item.id}`}
                      checked={selected.has(item.id)}
                      onChange={() => toggle(item.id)}
                    />
                  </td>
                  <td>
                    <a href={`#/jobs/${item.id}`} className="mono">
                      {item.id.slice(0, 8)}
                    </a>
                  </td>
                  <td>{item.type}</td>
                  <td>
                    <span className={`badge badge-reason`}>{item.reason}</span>
                  </td>
                  <td className="error-cell">{item.lastError}</td>
                  <td>{item.completedAt?.toLocaleTimeString()}</td>
                  <td className="row-actions">
                    <button type="button" disabled={busy} onClick={() => requeue.mutate({ jobIds: [item.id] })}>
                      Requeue
                    </button>
                    <button type="button" disabled={busy} onClick={() => discard.mutate({ jobIds: [item.id] })}>
                      Discard
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {list.hasNextPage && (
        <button type="button" onClick={() => void list.fetchNextPage()}>
          Load more
        </button>
      )}
    </section>
  );
}
