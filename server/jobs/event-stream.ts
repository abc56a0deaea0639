/**
 * One caller's stream of job events (jobs.events): first what came after
 * lastEventId (the backfill, read from the log), then the hub's live events,
 * each exactly once and in cursor order. Both the tRPC procedure and the
 * hand-written SSE route (server/http/event-stream-route.ts) iterate this.
 */
import { TRPCError } from "@trpc/server";
import type pg from "pg";
import { z } from "zod";
import type { JobEvent } from "../../shared/events.js";
import { ownerScope } from "../auth/scope.js";
import type { AuthUser } from "../auth/tokens.js";
import type { Db } from "../db/pool.js";
import { JobNotFoundError } from "../errors.js";
import type { StreamLimiter } from "../limits/streams.js";
import {
  type EventHub,
  type EventScope,
  MAX_BUFFERED,
  SubscriberOverflowError,
  type Subscription,
} from "./event-hub.js";
import {
  type Cursor,
  compareCursors,
  cursorRetained,
  decodeCursor,
  jobEventsSince,
  type ScopedEvent,
  settledHead,
} from "./event-log.js";
import { findJob } from "./queries.js";

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
  /** The process's count of open streams (MAX_STREAMS_PER_USER); without it the stream is not counted. */
  streams?: StreamLimiter;
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
  const stream = await openStream(deps, input, from, signal);
  try {
    let cursor = stream.cursor;
    for await (const page of backfill(deps.pool, stream)) {
      cursor = lastCursor(page);
      yield page.map(({ event }) => event);
    }
    for await (const delivered of stream.live) {
      const batch = unsent(delivered, cursor);
      if (batch.length > 0) {
        cursor = lastCursor(batch);
        yield batch.map(({ event }) => event);
      }
    }
  } finally {
    stream.release();
  }
}

/** Where a pushed stream's events go: `write` says whether the reader has room for more. */
export interface EventSink {
  write(events: readonly ScopedEvent[]): boolean;
  /** Resolves when the reader has taken everything written (or is gone). */
  drained(): Promise<void>;
}

/**
 * The same stream as jobEventStream, pushed: the backfill page by page, each
 * waiting for the reader, then each hub read handed to `sink.write` as the hub
 * reads it, with no promise per delivery (the SSE route, with a thousand
 * subscribers). A reader that leaves more than the hub's per-subscriber limit
 * of live events unread ends the stream with SubscriberOverflowError, as a
 * buffered subscriber does. Resolves when `signal` aborts (the reader left) or
 * the hub stops.
 */
export async function followJobEvents(
  deps: EventStreamDeps,
  input: EventsInput,
  from: Cursor,
  signal: AbortSignal,
  sink: EventSink,
): Promise<void> {
  const stream = await openStream(deps, input, from, signal);
  const { live } = stream;
  try {
    let cursor = stream.cursor;
    for await (const page of backfill(deps.pool, stream)) {
      if (signal.aborted) return;
      cursor = lastCursor(page);
      if (!sink.write(page)) await sink.drained();
    }
    // Live events written since the reader last caught up.
    let unread = 0;
    await new Promise<void>((resolve, reject) => {
      live.follow(
        (delivered) => {
          const batch = unsent(delivered, cursor);
          if (batch.length === 0) return;
          cursor = lastCursor(batch);
          if (sink.write(batch)) return;
          if (unread === 0) {
            void sink.drained().then(() => {
              unread = 0;
            });
          }
          unread += batch.length;
          if (unread > MAX_BUFFERED) live.fail(new SubscriberOverflowError());
        },
        (error) => (error ? reject(error) : resolve()),
      );
    });
  } finally {
    stream.release();
  }
}

interface OpenStream {
  live: Subscription;
  scope: EventScope;
  /** Where the stream starts: the backfill reads from here up to the live subscription's start. */
  cursor: Cursor;
  /** Ends the live subscription, stops listening to the signal and gives back the stream's slot. */
  release: () => void;
}

/**
 * Takes a slot from the user's open streams (TOO_MANY_REQUESTS when none is
 * left), checks the caller may see the stream, goes live (closed when `signal`
 * aborts, also if it aborted while the stream was opening), and says where the
 * backfill starts. The slot is taken before the first await, so the stream
 * counts from the moment it is opened; it goes back with `release`, or here
 * if opening fails.
 */
async function openStream(
  deps: EventStreamDeps,
  input: EventsInput,
  from: Cursor,
  signal: AbortSignal | undefined,
): Promise<OpenStream> {
  const slot = deps.streams?.acquire(deps.user.id);
  let opened: Omit<OpenStream, "release">;
  try {
    opened = await subscribeFrom(deps, input, from);
  } catch (error) {
    slot?.release();
    throw error;
  }
  const { live, scope, cursor } = opened;
  const stop = () => live.close();
  signal?.addEventListener("abort", stop);
  if (signal?.aborted) stop();
  const release = () => {
    signal?.removeEventListener("abort", stop);
    live.close();
    slot?.release();
  };
  return { live, scope, cursor, release };
}

async function subscribeFrom(
  deps: EventStreamDeps,
  input: EventsInput,
  from: Cursor,
): Promise<Omit<OpenStream, "release">> {
  if (input.jobId) {
    await findJob(deps.db, deps.user, input.jobId).catch((error: unknown) => {
      if (error instanceof JobNotFoundError) throw new TRPCError({ code: "NOT_FOUND", message: error.message });
      throw error;
    });
  }
  const scope = { ownerId: ownerScope(deps.user), jobId: input.jobId };
  // Live first, so nothing settles between the backfill and going live.
  const live = deps.hub.subscribe(scope);
  if (!input.lastEventId) {
    // With nobody subscribed, the hub moves its head on lazily (event-hub.ts),
    // so for the first subscriber "from now" is the log's settled head now:
    // what the hub then delivers up to it is not sent.
    if (deps.hub.subscriberCount === 1) {
      const now = await settledHead(deps.pool).catch((error: unknown) => {
        live.close();
        throw error;
      });
      if (compareCursors(now, from) > 0) return { live, scope, cursor: now };
    }
    return { live, scope, cursor: from };
  }
  try {
    const resumeFrom = decodeCursor(input.lastEventId);
    if (!resumeFrom) throw new TRPCError({ code: "BAD_REQUEST", message: "lastEventId is malformed" });
    if (!(await cursorRetained(deps.pool, resumeFrom))) {
      throw new TRPCError({
        code: "PRECONDITION_FAILED",
        message: "lastEventId is older than the retained event history; refetch the jobs",
      });
    }
    return { live, scope, cursor: resumeFrom };
  } catch (error) {
    live.close();
    throw error;
  }
}

/** The log's pages from the stream's start up to where the live subscription took over. */
async function* backfill(pool: pg.Pool, stream: OpenStream): AsyncGenerator<ScopedEvent[]> {
  let cursor = stream.cursor;
  if (compareCursors(cursor, stream.live.startCursor) >= 0) return;
  for (;;) {
    const page = await jobEventsSince(pool, cursor, stream.scope, PAGE, { checkHeldBack: false });
    if (page.events.length > 0) {
      cursor = lastCursor(page.events);
      yield page.events;
    }
    if (page.events.length < PAGE) return;
  }
}

const PAGE = 500;

/** A hub read without what the backfill already sent: the read itself (no copy) in the usual case. */
function unsent(delivered: readonly ScopedEvent[], cursor: Cursor): readonly ScopedEvent[] {
  const first = delivered[0];
  if (first === undefined || compareCursors(first.cursor, cursor) > 0) return delivered;
  return delivered.filter((event) => compareCursors(event.cursor, cursor) > 0);
}

function lastCursor(events: readonly ScopedEvent[]): Cursor {
  const last = events.at(-1);
  if (!last) throw new Error("lastCursor of no events");
  return last.cursor;
}
