/** Jobs per state, refreshed when transitions arrive (at most once a second), never by polling. */
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef } from "react";
import { jobStatuses } from "../../../shared/states.js";
import { useJobEvents } from "../hooks/event-stream.js";
import { useTRPC } from "../trpc.js";

export function useOverview() {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const query = useQuery(trpc.stats.overview.queryOptions({ minutes: 15 }));
  const pending = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const stale = useRef(false);
  const refresh = () => void queryClient.invalidateQueries({ queryKey: trpc.stats.overview.queryKey() });
  // Refresh at once on a transition, then at most once a second while they keep coming.
  useJobEvents((event) => {
    if (event.kind !== "transition") return;
    if (pending.current) {
      stale.current = true;
      return;
    }
    refresh();
    pending.current = setTimeout(function settle() {
      pending.current = undefined;
      if (stale.current) {
        stale.current = false;
        refresh();
        pending.current = setTimeout(settle, 1000);
      }
    }, 1000);
  });
  return query;
}

export function StateCounts({ onPick }: { onPick?: (status: (typeof jobStatuses)[number]) => void }) {
  const overview = useOverview();
  if (!overview.data) return <div className="counts muted">{overview.error ? overview.error.message : "…"}</div>;
  const { counts } = overview.data;
  return (
    <ul className="counts" aria-label="Jobs per state">
      {jobStatuses.map((status) => (
        <li key={status}>
          <button type="button" className={`count count-${status}`} onClick={() => onPick?.(status)}>
            <span className="count-n" data-testid={`count-${status}`}>
              {counts[status]}
            </span>
            <span className="count-label">{status}</span>
          </button>
        </li>
      ))}
    </ul>
  );
}
