/**
 * Reusable hooks for apps built on the template: a job (or a page of jobs)
 * kept live by the event stream, typed from the job registry.
 *
 *   const { job } = useJob(jobId);
 *   if (job?.type === "email") job.result?.messageId; // narrowed by type
 */
import {
  hashKey,
  type InfiniteData,
  type QueryClient,
  type QueryKey,
  useInfiniteQuery,
  useQuery,
  useQueryClient,
} from "@tanstack/react-query";
import { useEffect, useMemo, useRef } from "react";
import type { JobEvent } from "../../../shared/events.js";
import type { JobView } from "../../../shared/job-view.js";
import { applyEvent } from "../lib/apply-event.js";
import { type ApplyResult, applyEventsToPages, type JobsFilter, type JobsPage } from "../lib/job-list.js";
import { useTRPC } from "../trpc.js";
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

export type { JobsFilter } from "../lib/job-list.js";

/** How long live events gather before they are applied to the list together. */
const FLUSH_MS = 100;
/** The least time between two reads of the list's pages that events asked for. */
const RESYNC_GAP_MS = 500;

type JobsData = InfiniteData<JobsPage>;

/**
 * Keeps one loaded jobs.list query (`key`, `filter`) live: events are applied
 * in batches (applyEventsToPages); when a job that is not loaded enters the
 * filter among the loaded rows, or rows left and a next page could refill the
 * list, the pages are read again, at most one read at a time and one every
 * RESYNC_GAP_MS, however many events asked. A read of the pages overwrites
 * what events did while it was in flight, so those events are applied again
 * to what it returned (an event older than a row changes nothing).
 */
function liveJobList(queryClient: QueryClient, key: QueryKey, filter: JobsFilter) {
  const hash = hashKey(key);
  let buffer: JobEvent[] = [];
  let flushTimer: ReturnType<typeof setTimeout> | undefined;
  /** The events received since the read in flight started; undefined when none is. */
  let sinceRead: JobEvent[] | undefined;
  let resyncTimer: ReturnType<typeof setTimeout> | undefined;
  let resyncWanted = false;
  let lastResync = 0;
  const reading = () => queryClient.isFetching({ queryKey: key, exact: true }) > 0;

  function apply(events: JobEvent[], lookForEntered: boolean) {
    if (events.length === 0) return;
    let outcome: ApplyResult<JobsPage> | undefined;
    queryClient.setQueryData<JobsData>(key, (data) => {
      if (!data) return data;
      outcome = applyEventsToPages(data.pages, events, filter);
      return outcome.pages === data.pages ? data : { ...data, pages: outcome.pages };
    });
    if (!outcome) return;
    const hasNext = Boolean(outcome.pages.at(-1)?.nextCursor);
    if ((outcome.entered && lookForEntered) || (outcome.removed > 0 && hasNext)) requestResync();
  }

  function flush() {
    flushTimer = undefined;
    const events = buffer;
    buffer = [];
    // While a read is in flight, what entered is looked for when it lands, among what it returns.
    apply(events, !reading());
  }

  function requestResync() {
    resyncWanted = true;
    resyncTimer ??= setTimeout(resync, Math.max(0, lastResync + RESYNC_GAP_MS - Date.now()));
  }

  function resync() {
    resyncTimer = undefined;
    if (!resyncWanted) return;
    resyncWanted = false;
    // A read in flight covers the request: its events are applied to what it returns, entries looked for.
    if (reading()) return;
    lastResync = Date.now();
    void queryClient.refetchQueries({ queryKey: key, exact: true });
  }

  const cache = queryClient.getQueryCache();
  if (cache.find({ queryKey: key, exact: true })?.state.fetchStatus === "fetching") sinceRead = [];
  const unsubscribe = cache.subscribe((notice) => {
    if (notice.type !== "updated" || notice.query.queryHash !== hash) return;
    const action = notice.action;
    if (action.type === "fetch") sinceRead ??= [];
    else if (action.type === "success" && !action.manual) {
      const events = sinceRead ?? [];
      sinceRead = undefined;
      // After the read's data is stored, outside the cache's notification.
      queueMicrotask(() => apply(events, true));
    } else if (action.type === "error" || notice.query.state.fetchStatus === "idle") sinceRead = undefined;
  });

  return {
    onEvent(event: JobEvent) {
      if (event.kind === "workflow") return;
      buffer.push(event);
      sinceRead?.push(event);
      flushTimer ??= setTimeout(flush, FLUSH_MS);
    },
    close() {
      unsubscribe();
      clearTimeout(flushTimer);
      clearTimeout(resyncTimer);
    },
  };
}

/**
 * Jobs newest first, by cursor pages, live: known jobs update in place (and
 * leave a list filtered by state when they leave the state), jobs entering the
 * filter appear in their place (the pages are read again). Pages stay correct
 * while jobs arrive because the server's cursor is (created_at, id). However
 * many events arrive, the list is read at most once per RESYNC_GAP_MS, never
 * job by job.
 */
export function useJobs(filter: JobsFilter, pageSize = 50) {
  const trpc = useTRPC();
  const queryClient = useQueryClient();
  const input = { ...filter, limit: pageSize };
  const query = useInfiniteQuery(
    trpc.jobs.list.infiniteQueryOptions(input, { getNextPageParam: (page) => page.nextCursor ?? undefined }),
  );
  const key = trpc.jobs.list.infiniteQueryKey(input);
  const hash = hashKey(key);
  const live = useRef<ReturnType<typeof liveJobList>>(undefined);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the key's hash stands for the key and the filter
  useEffect(() => {
    const list = liveJobList(queryClient, key, filter);
    live.current = list;
    return () => {
      list.close();
      if (live.current === list) live.current = undefined;
    };
  }, [queryClient, hash]);
  useJobEvents((event) => live.current?.onEvent(event));

  const jobs = useMemo(() => {
    const seen = new Set<string>();
    const out: JobView[] = [];
    for (const page of query.data?.pages ?? []) {
      for (const job of page.items) {
        if (seen.has(job.id)) continue;
        seen.add(job.id);
        out.push(job);
      }
    }
    return out;
  }, [query.data]);

  return {
    jobs,
    error: query.error,
    isLoading: query.isLoading,
    hasMore: query.hasNextPage,
    loadMore: () => query.fetchNextPage(),
    isLoadingMore: query.isFetchingNextPage,
  };
}
