/**
 * The Jobs list kept live: a batch of events applied to the loaded pages of a
 * jobs.list query with a filter. Pure, so it is tested without a browser.
 *
 * The list holds every job matching the filter from the newest down to the
 * last page's cursor (jobs.list orders by created_at, then id, both
 * descending; the next page starts strictly after the cursor). An event for a
 * loaded job updates it in place, or removes it when it no longer matches (a
 * job that finished, under "running"). An event saying a job that is not
 * loaded now matches cannot be placed from the event alone, so the caller
 * reads the pages again (`entered`); one that falls after the cursor is left
 * for the next page. A batch costs O(rows + events).
 */
import type { JobEvent } from "../../../shared/events.js";
import type { JobView } from "../../../shared/job-view.js";
import type { JobType } from "../../../shared/jobs.js";
import type { JobStatus } from "../../../shared/states.js";
import { applyEvent } from "./apply-event.js";

export interface JobsFilter {
  status?: JobStatus | undefined;
  type?: JobType | undefined;
  search?: string | undefined;
}

export interface JobsPage {
  items: JobView[];
  nextCursor?: string | null | undefined;
}

/** A row's place in jobs.list's order. */
export interface ListKey {
  at: number;
  id: string;
}

/** Whether `a` is listed before `b`: newer, or as new with the greater id (UUIDs compare as Postgres does). */
export function listedBefore(a: ListKey, b: ListKey): boolean {
  return a.at !== b.at ? a.at > b.at : a.id > b.id;
}

/** A jobs.list cursor ("<ISO time>_<uuid>", the last row of its page) as a key; undefined when malformed. */
export function cursorKey(cursor: string): ListKey | undefined {
  const match = /^(.+)_([0-9a-f-]{36})$/i.exec(cursor);
  const at = match?.[1] ? Date.parse(match[1]) : Number.NaN;
  return match?.[2] && !Number.isNaN(at) ? { at, id: match[2].toLowerCase() } : undefined;
}

export function matchesFilter(job: JobView, filter: JobsFilter): boolean {
  if (filter.status && job.status !== filter.status) return false;
  if (filter.type && job.type !== filter.type) return false;
  if (filter.search && job.id !== filter.search.toLowerCase() && job.idempotencyKey !== filter.search) return false;
  return true;
}

/** Within one attempt a job only moves up this order (pending, running, then an outcome). */
const rank: Record<JobStatus, number> = {
  pending: 0,
  running: 1,
  retrying: 2,
  succeeded: 2,
  failed: 2,
  cancelled: 2,
};

/**
 * `applyEvent`, except that an event older than what the job shows changes
 * nothing: a page read after an event was committed but delivered before it
 * already holds its effect, and the event must not take the row back. The
 * event's time and the row's updatedAt are the same transaction's now().
 */
export function applyNewerEvent(job: JobView, event: JobEvent): JobView {
  const at = event.at.getTime();
  const shown = job.updatedAt.getTime();
  if (at < shown) return job;
  if (
    at === shown &&
    event.kind === "transition" &&
    event.attempt === job.attempt &&
    rank[event.status] < rank[job.status]
  )
    return job;
  return applyEvent(job, event);
}

export interface ApplyResult<P extends JobsPage> {
  /** The pages after the events; the same array when nothing changed. */
  pages: P[];
  /** Loaded rows that left the filter and were removed. */
  removed: number;
  /** A job that is not loaded now matches the filter and belongs among the loaded rows: read the pages again. */
  entered: boolean;
}

/** Applies `events`, in order, to the loaded `pages` of a list with `filter`. */
export function applyEventsToPages<P extends JobsPage>(
  pages: P[],
  events: readonly JobEvent[],
  filter: JobsFilter,
): ApplyResult<P> {
  const loaded = new Map<string, { page: number; job: JobView }>();
  pages.forEach((page, index) => {
    for (const job of page.items) loaded.set(job.id, { page: index, job });
  });
  const touched = new Set<number>();
  /** Jobs not loaded: the time of their first event in the batch, and their last event. */
  const others = new Map<string, { at: number; last: JobEvent }>();
  for (const event of events) {
    if (event.kind === "workflow") continue; // a workflow's, not a job's
    const row = loaded.get(event.jobId);
    if (row) {
      const next = applyNewerEvent(row.job, event);
      if (next !== row.job) {
        row.job = next;
        touched.add(row.page);
      }
      continue;
    }
    const seen = others.get(event.jobId);
    if (seen) seen.last = event;
    else others.set(event.jobId, { at: event.at.getTime(), last: event });
  }

  // A job's created_at is at most the time of any of its events (equal for the first), so a job
  // whose (event time, id) sorts after the cursor sorts after it too and is the next page's.
  const cursor = pages.at(-1)?.nextCursor;
  const boundary = cursor ? cursorKey(cursor) : undefined;
  let entered = false;
  for (const [id, { at, last }] of others) {
    if (filter.status && last.status !== filter.status) continue;
    if (filter.type && last.jobType !== filter.type) continue;
    if (boundary && !listedBefore({ at, id }, boundary)) continue;
    entered = true;
    break;
  }

  if (touched.size === 0) return { pages, removed: 0, entered };
  let removed = 0;
  const next = pages.map((page, index) => {
    if (!touched.has(index)) return page;
    const items: JobView[] = [];
    for (const job of page.items) {
      const current = loaded.get(job.id)?.job ?? job;
      if (matchesFilter(current, filter)) items.push(current);
      else removed++;
    }
    return { ...page, items };
  });
  return { pages: next, removed, entered };
}
