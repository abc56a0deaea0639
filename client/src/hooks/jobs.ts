/**
 * Reusable hooks for apps built on the template: a job (or a page of jobs)
 * kept live by the event stream, typed from the job registry.
 *
 *   const { job } = useJob(jobId);
 *   if (job?.type === "email") job.result?.messageId; // narrowed by type
 */
import { useInfiniteQuery, useQuery, useQueryClient } from "@tanstack/react-query";
import { useMemo, useState } from "react";
import type { JobEvent } from "../../../shared/events.js";
import type { JobView } from "../../../shared/job-view.js";
import type { JobType } from "../../../shared/jobs.js";
import type { JobStatus } from "../../../shared/states.js";
import { applyEvent, applyEventToList } from "../lib/apply-event.js";
import { useTRPC, useTRPCClient } from "../trpc.js";
import { useJobEvents } from "./event-stream.js";

export interface UseJobResult {
  job: JobView | undefined;
  events: JobEvent[];
  error: { message: string } | null;
  isLoading: boolean;
}

/** One job with its event timeline, updated live. */
export function useJob(jobId: string): UseJobResult {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const query = useQuery(trpc.jobs.get.queryOptions({ jobId }));
  const key = trpc.jobs.get.queryKey({ jobId });
  useJobEvents((event) => {
    if (event.jobId !== jobId) return;
    if (!queryClient.getQueryData(key)) {
      // The job is still loading, and its read may predate this event: read it
      // again (the fetch in flight is replaced) rather than drop the event.
      void queryClient.invalidateQueries({ queryKey: key });
      return;
    }
    queryClient.setQueryData(key, (current) => {
      if (!current || current.events.some((e) => e.id === event.id)) return current;
      return { ...applyEvent(current, event), events: [...current.events, event] } as typeof current;
    });
    // A finished job's result or error stack is not in the event: read it once.
    if (event.kind === "transition" && ["succeeded", "failed"].includes(event.status)) {
      void queryClient.invalidateQueries({ queryKey: key });
    }
  });
  const data = query.data;
  return {
    job: data,
    events: data?.events ?? [],
    error: query.error,
    isLoading: query.isLoading,
  };
}

export interface JobsFilter {
  status?: JobStatus | undefined;
  type?: JobType | undefined;
  search?: string | undefined;
}

function matches(job: JobView, filter: JobsFilter): boolean {
  if (filter.status && job.status !== filter.status) return false;
  if (filter.type && job.type !== filter.type) return false;
  if (filter.search && job.id !== filter.search && job.idempotencyKey !== filter.search) return false;
  return true;
}

/**
 * Jobs newest first, by cursor pages, live: known jobs update in place, new
 * jobs matching the filter appear on top. Pages stay correct while jobs arrive
 * because the server's cursor is (created_at, id).
 */
export function useJobs(filter: JobsFilter, pageSize = 50) {
  const trpc = useTRPC();
  const client = useTRPCClient();
  const queryClient = useQueryClient();
  const input = { ...filter, limit: pageSize };
  const query = useInfiniteQuery(
    trpc.jobs.list.infiniteQueryOptions(input, { getNextPageParam: (page) => page.nextCursor ?? undefined }),
  );
  const key = trpc.jobs.list.infiniteQueryKey(input);
  const [arrived, setArrived] = useState<JobView[]>([]);
  const [seenFilter, setSeenFilter] = useState(filter);
  if (seenFilter !== filter && JSON.stringify(seenFilter) !== JSON.stringify(filter)) {
    setSeenFilter(filter);
    setArrived([]);
  }

  useJobEvents((event) => {
    setArrived((jobs) => applyEventToList(jobs, event));
    queryClient.setQueryData(key, (data) => {
      if (!data) return data;
      let changed = false;
      const pages = data.pages.map((page) => {
        const items = applyEventToList(page.items, event);
        if (items !== page.items) changed = true;
        return items === page.items ? page : { ...page, items };
      });
      return changed ? { ...data, pages } : data;
    });
    if (event.kind === "transition" && event.status === "pending" && event.attempt === 0) {
      // A new job: fetch it and show it on top if it matches.
      void client.jobs.get.query({ jobId: event.jobId }).then(
        (job) => {
          if (!matches(job, filter)) return;
          setArrived((jobs) => (jobs.some((j) => j.id === job.id) ? jobs : [job, ...jobs]));
        },
        () => {},
      );
    }
  });

  const jobs = useMemo(() => {
    const loaded = query.data?.pages.flatMap((p) => p.items) ?? [];
    const ids = new Set(loaded.map((j) => j.id));
    return [...arrived.filter((j) => !ids.has(j.id)), ...loaded];
  }, [arrived, query.data]);

  return {
    jobs,
    error: query.error,
    isLoading: query.isLoading,
    hasMore: query.hasNextPage,
    loadMore: () => query.fetchNextPage(),
    isLoadingMore: query.isFetchingNextPage,
  };
}
