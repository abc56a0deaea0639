/**
 * server/jobs/ is the read side: scoped job queries (here), the event log read by cursor (event-log.ts), the
 * event hub (LISTEN + fan-out) and one caller's event stream. Must not: write job state (that is
 * server/lifecycle/), or import from server/workflows/, lifecycle/, worker/ or http/.
 *
 * Reads of jobs through Prisma, always scoped to the caller: a job that is not
 * the caller's is indistinguishable from one that does not exist.
 */
import { z } from "zod";
import type { JobEvent } from "../../shared/events.js";
import type { JobView } from "../../shared/job-view.js";
import type { DlqReason, JobStatus } from "../../shared/states.js";
import { ownerScope } from "../auth/scope.js";
import type { AuthUser } from "../auth/tokens.js";
import type { Db } from "../db/pool.js";
import type { Queryable } from "../db/schema.js";
import { JobNotFoundError } from "../errors.js";
import type { Prisma } from "../generated/prisma/client.js";
import { jobHistory } from "./event-log.js";
import { toJobView } from "./serialize.js";

export async function findJob(db: Db, user: AuthUser, jobId: string) {
  const job = await db.job.findFirst({ where: { id: jobId, ownerId: ownerScope(user) } });
  if (!job) throw new JobNotFoundError(jobId);
  return job;
}

/**
 * A job with its event history, the two read so that they agree: every
 * transition writes the row and its event in one transaction, but the row and
 * the history are two statements, and a transition committed between them
 * would give a row older than its events. A client that skips events it
 * already holds would then keep the old state for good (seen in the dashboard
 * as "pending" under a running timeline). So when the last transition in the
 * history is not the row's state, both are read again.
 */
export async function getJobWithEvents(
  db: Db,
  sql: Queryable,
  user: AuthUser,
  jobId: string,
): Promise<JobView & { events: JobEvent[] }> {
  for (let tries = 1; ; tries++) {
    const job = await findJob(db, user, jobId);
    const events: JobEvent[] = (await jobHistory(sql, jobId)).map((e) => e.event);
    const last = events.findLast((e) => e.kind === "transition");
    // A few tries: a job moving that fast settles, and a row changed without an event must not loop.
    if (!last || last.status === job.status || tries === 5) return { ...toJobView(job), events };
  }
}

/** Page cursor for lists ordered newest first: "<ISO time>_<uuid>". */
export function encodePageCursor(at: Date, id: string): string {
  return `${at.toISOString()}_${id}`;
}

/**
 * Parses a client's cursor; undefined when malformed. Both parts go to the
 * database as typed values, so each must be one it can take: a real instant
 * in years 1 to 9999 (written as toISOString writes it, which refuses
 * February 30th) and a UUID (any version, as the uuid column takes).
 */
export function decodePageCursor(cursor: string): { at: Date; id: string } | undefined {
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)_(.{36})$/.exec(cursor);
  if (!match?.[1] || !match[2]) return undefined;
  const at = new Date(match[1]);
  if (Number.isNaN(at.getTime()) || at.toISOString() !== match[1] || at.getUTCFullYear() < 1) return undefined;
  return z.guid().safeParse(match[2]).success ? { at, id: match[2] } : undefined;
}

/** A list's cursor input: the nextCursor of the page before, or null/absent for the first page. */
export const pageCursorInput = z
  .string()
  .refine((c) => decodePageCursor(c) !== undefined, "cursor is malformed: pass back a nextCursor from the page before")
  .nullish();

export interface ListFilter {
  status?: JobStatus | undefined;
  type?: string | undefined;
  /** A job id or an idempotency key. */
  search?: string | undefined;
  cursor?: { at: Date; id: string } | undefined;
  limit: number;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type PageKey = "createdAt" | "completedAt";

/**
 * One page, newest first by (key, id): the keyset condition after the cursor,
 * one extra row fetched to know whether a next page exists.
 */
async function keysetPage(
  db: Db,
  where: Prisma.JobWhereInput,
  key: PageKey,
  page: { cursor?: { at: Date; id: string } | undefined; limit: number },
) {
  const after: Prisma.JobWhereInput[] = page.cursor
    ? [{ OR: [{ [key]: { lt: page.cursor.at } }, { [key]: page.cursor.at, id: { lt: page.cursor.id } }] }]
    : [];
  const rows = await db.job.findMany({
    where: { AND: [where, ...after] },
    orderBy: [{ [key]: "desc" }, { id: "desc" }],
    take: page.limit + 1,
  });
  const items = rows.slice(0, page.limit);
  const last = items.at(-1);
  const lastKey = last?.[key];
  const nextCursor = rows.length > page.limit && last && lastKey ? encodePageCursor(lastKey, last.id) : null;
  return { items, nextCursor };
}

export async function listJobs(db: Db, user: AuthUser, filter: ListFilter) {
  const search: Prisma.JobWhereInput[] = filter.search
    ? [
        {
          OR: [
            { idempotencyKey: filter.search },
            ...(UUID.test(filter.search) ? [{ id: filter.search.toLowerCase() }] : []),
          ],
        },
      ]
    : [];
  const { items, nextCursor } = await keysetPage(
    db,
    { ownerId: ownerScope(user), status: filter.status, type: filter.type, AND: search },
    "createdAt",
    filter,
  );
  return { items: items.map(toJobView), nextCursor };
}

/** The dead-letter queue: failed, not discarded, most recently failed first. */
export async function listDeadLetters(
  db: Db,
  user: AuthUser,
  filter: { cursor?: { at: Date; id: string } | undefined; limit: number },
) {
  const { items, nextCursor } = await keysetPage(
    db,
    { ownerId: ownerScope(user), status: "failed", discardedAt: null },
    "completedAt",
    filter,
  );
  return {
    items: items.map((job) => ({ ...toJobView(job), reason: job.dlqReason as DlqReason, lastError: job.error })),
    nextCursor,
  };
}
