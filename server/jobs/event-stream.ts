/**
 * One caller's stream of job events (jobs.events): first what came after
 * lastEventId (the backfill, read from the log), then the hub's live events,
 * each exactly once and in cursor order. Both the tRPC procedure and the
 * hand-written SSE route (server/event-stream-route.ts) iterate this.
 */
import { TRPCError } from "@trpc/server";
import type pg from "pg";
import { z } from "zod";
import type { JobEvent } from "../../shared/events.js";
import type { AuthUser } from "../auth/tokens.js";
import type { Db } from "../db/pool.js";
import { JobNotFoundError } from "./errors.js";
import type { EventHub } from "./event-hub.js";
import { type Cursor, compareCursors, cursorRetained, decodeCursor, jobEventsSince } from "./event-log.js";
import { findJob, ownerScope } from "./queries.js";

export const eventsInput = z.object({
  jobId: z.uuid().optional(),
  lastEventId: z
    .string()
    .refine((id) => decodeCursor(id) !== undefined, "lastEventId is malformed")
    .nullish(),
});

export type EventsInput = z.infer<typeof eventsInput>;

export interface EventStreamDeps {
  db: Db;
  pool: pg.Pool;
  hub: EventHub;
  user: AuthUser;
}

/**
 * Yields batches of events from `from` (the hub's head when the
 * request arrived) or from `input.lastEventId`: a backfill page, or what the
 * hub delivered since the last batch. Events the hub hands out are frozen and
 * shared by every subscriber; backfilled ones belong to this stream.
 */
export async function* jobEventStream(
  deps: EventStreamDeps,
  input: EventsInput,
  from: Cursor,
  signal?: AbortSignal,
): AsyncGenerator<JobEvent[]> {
  if (input.jobId) {
    await findJob(deps.db, deps.user, input.jobId).catch((error: unknown) => {
      if (error instanceof JobNotFoundError) throw new TRPCError({ code: "NOT_FOUND", message: error.message });
      throw error;
    });
  }
  const scope = { ownerId: ownerScope(deps.user), jobId: input.jobId };
  // Live first, so nothing settles between the backfill and going live.
  const live = deps.hub.subscribe(scope);
  const stop = () => live.close();
  signal?.addEventListener("abort", stop);
  try {
    let cursor = from;
    if (input.lastEventId) {
      const resumeFrom = decodeCursor(input.lastEventId);
      if (!resumeFrom) throw new TRPCError({ code: "BAD_REQUEST", message: "lastEventId is malformed" });
      if (!(await cursorRetained(deps.pool, resumeFrom))) {
        throw new TRPCError({
          code: "PRECONDITION_FAILED",
          message: "lastEventId is older than the retained event history; refetch the jobs",
        });
      }
      cursor = resumeFrom;
    }
    if (compareCursors(cursor, live.startCursor) < 0) {
      for (;;) {
        const page = await jobEventsSince(deps.pool, cursor, scope, 500, { checkHeldBack: false });
        const last = page.events.at(-1);
        if (last) {
          cursor = last.cursor;
          yield page.events.map(({ event }) => event);
        }
        if (page.events.length < 500) break;
      }
    }
    for await (const delivered of live) {
      const batch: JobEvent[] = [];
      for (const { cursor: at, event } of delivered) {
        if (compareCursors(at, cursor) <= 0) continue; // already sent by the backfill
        cursor = at;
        batch.push(event);
      }
      if (batch.length > 0) yield batch;
    }
  } finally {
    signal?.removeEventListener("abort", stop);
    live.close();
  }
}
