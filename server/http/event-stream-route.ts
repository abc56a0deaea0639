/**
 * jobs.events over SSE, written by hand in tRPC's wire format, so that
 * httpSubscriptionLink reads it exactly as it reads tRPC's own stream.
 *
 * Why: tRPC's SSE producer passes every event of every subscriber through a
 * chain of web streams (each event several chunks, each chunk a socket write)
 * and serialises it per subscriber. With 1,000 subscribers that is the whole
 * CPU. Here an event is serialised once for all subscribers (the hub's events
 * are frozen and shared), the hub pushes each read to every subscriber
 * synchronously (followJobEvents: no promises per delivery), and each batch
 * goes out as one socket write of a chunk built once for all subscribers.
 *
 * Only the plain case is served here: an authenticated GET with valid input.
 * Everything else (no credentials, bad input, a batch, a database error while
 * authenticating) goes on to tRPC, which answers it as it always has. Errors
 * raised inside the stream (NOT_FOUND, PRECONDITION_FAILED, overflow, and
 * TOO_MANY_REQUESTS past MAX_STREAMS_PER_USER, one count with tRPC's) are sent
 * as tRPC sends them: a `serialized-error` event shaped by the same error
 * formatter. test/api/event-stream-route.test.ts compares both streams.
 * tRPC's `sse` options (ping, maxDurationMs) are not configured in trpc.ts;
 * setting them there would need the same here.
 *
 * A fast path: TRPC_FAST_PATHS=off unmounts it (server/app.ts), and tRPC's
 * adapter serves the same stream (test/api/fast-paths.test.ts). tRPC's
 * internals it uses come from trpc-internals.ts.
 */
import type express from "express";
import type { JobEvent } from "../../shared/events.js";
import { userFromHeaders } from "../auth/tokens.js";
import type { ScopedEvent } from "../jobs/event-log.js";
import { type EventsInput, eventsInput, followJobEvents } from "../jobs/event-stream.js";
import { streamLimiter } from "../limits/streams.js";
import type { AppServices } from "./context.js";
import { createContextInner } from "./context.js";
import { appRouter } from "./routers/_app.js";
import { getErrorShape, getTRPCErrorFromUnknown, isAbortError, routerConfig } from "./trpc-internals.js";

const PATH = "/jobs.events";
const config = routerConfig(appRouter);

/**
 * Each event's whole SSE message, encoded, kept per (frozen, shared) event
 * object: built once for all subscribers, written as is to each.
 */
const messageOf = new WeakMap<object, Buffer>();

function serialise(value: unknown): string {
  return JSON.stringify(config.transformer.output.serialize(value));
}

function eventMessage(event: JobEvent): Buffer {
  const build = () => Buffer.from(`data: ${serialise(event)}\nid: ${event.id}\n\n\n`);
  if (!Object.isFrozen(event)) return build();
  let message = messageOf.get(event);
  if (message === undefined) {
    message = build();
    messageOf.set(event, message);
  }
  return message;
}

/**
 * A batch as one HTTP/1.1 chunk (size line, messages, CRLF), so it can go
 * straight to the socket as one write system call. The hub hands every
 * unscoped subscriber the same frozen array, one after another, so the last
 * such batch's chunk is kept and written as is to each.
 */
let lastShared: { events: readonly ScopedEvent[]; chunk: Buffer } | undefined;

function batchChunk(events: readonly ScopedEvent[]): Buffer {
  if (lastShared?.events === events) return lastShared.chunk;
  const body = batchMessages(events);
  const chunk = Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, CRLF]);
  if (Object.isFrozen(events)) lastShared = { events, chunk };
  return chunk;
}

function batchMessages(events: readonly ScopedEvent[]): Buffer {
  const only = events.length === 1 ? events[0] : undefined;
  return only ? eventMessage(only.event) : Buffer.concat(events.map(({ event }) => eventMessage(event)));
}

const CRLF = Buffer.from("\r\n");

/** The input as tRPC reads it: `?input=` through the transformer, with Last-Event-ID merged in. */
function readInput(req: express.Request): EventsInput | undefined {
  const url = new URL(req.originalUrl, "http://localhost");
  if (url.searchParams.has("batch")) return undefined;
  let raw: unknown;
  try {
    const text = url.searchParams.get("input");
    raw = text === null ? undefined : config.transformer.input.deserialize(JSON.parse(text));
  } catch {
    return undefined;
  }
  const lastEventId =
    req.headers["last-event-id"] ?? url.searchParams.get("lastEventId") ?? url.searchParams.get("Last-Event-Id");
  if (typeof lastEventId === "string" && lastEventId) {
    if (raw === undefined || raw === null) raw = { lastEventId };
    else if (typeof raw === "object" && !Array.isArray(raw)) raw = { ...raw, lastEventId };
  }
  const parsed = eventsInput.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

export function eventStreamRoute(services: AppServices): express.RequestHandler {
  return async (req, res, next) => {
    if (req.method !== "GET" || req.path !== PATH || !req.headers.accept?.includes("text/event-stream")) return next();
    const input = readInput(req);
    if (!input) return next();
    // Listening from the start: a reader that leaves while we authenticate must still end the stream.
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    let user: Awaited<ReturnType<typeof userFromHeaders>>;
    try {
      user = await userFromHeaders(services.db, req.headers, services.tokenCache);
    } catch {
      return next();
    }
    if (!user) return next();
    if (abort.signal.aborted) return; // gone already
    // The hub's position once the request is authenticated (where tRPC's procedure takes it): the stream starts there.
    const from = services.hub.currentHead();

    res.writeHead(200, {
      "Content-Type": "text/event-stream",
      "Cache-Control": "no-cache, no-transform",
      "X-Accel-Buffering": "no",
      Connection: "keep-alive",
    });
    // The message framing is tRPC's (fields, then a blank line, then "\n").
    res.write(`event: connected\ndata: ${JSON.stringify(config.sse?.client ?? {})}\n\n\n`);
    try {
      await followJobEvents({ ...services, user, streams: streamLimiter(services) }, input, from, abort.signal, {
        // One write per batch. Chunked (HTTP/1.1), with the socket ours: framed here and written to
        // the socket itself, without the response's buffers and corking per write. Otherwise (HTTP/1.0,
        // or a pipelined request still waiting for the socket) the response frames and buffers it.
        write: (events) => {
          if (res.destroyed) return false;
          const socket = res.socket;
          return res.chunkedEncoding && socket ? socket.write(batchChunk(events)) : res.write(batchMessages(events));
        },
        drained: () =>
          new Promise<void>((resolve) => {
            // The socket drains for our own writes; the response says drain only for what it buffered.
            const socket = res.socket;
            const done = () => {
              socket?.off("drain", done);
              res.off("drain", done);
              res.off("close", done);
              resolve();
            };
            if (res.destroyed) return resolve();
            socket?.on("drain", done);
            res.on("drain", done);
            res.on("close", done);
          }),
      });
      if (!abort.signal.aborted) res.write("event: return\ndata: \n\n\n");
    } catch (cause) {
      if (!abort.signal.aborted && !isAbortError(cause)) {
        const error = getTRPCErrorFromUnknown(cause);
        if (error.code === "INTERNAL_SERVER_ERROR") {
          services.logger.error({ procedure: "jobs.events", err: error.cause ?? error }, "tRPC error");
        }
        const shape = getErrorShape({
          config,
          ctx: createContextInner(services, user),
          error,
          input,
          path: "jobs.events",
          type: "subscription",
        });
        res.write(`event: serialized-error\ndata: ${serialise(shape)}\n\n\n`);
      }
    }
    res.end();
  };
}
