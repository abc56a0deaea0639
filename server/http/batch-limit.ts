/**
 * MAX_BATCH_CALLS: a batched tRPC request (`?batch=1`, its procedures
 * comma-separated in the path) with more calls answers 400 BAD_REQUEST
 * "a batch may hold at most <n> calls" before any call runs, or any body is read.
 *
 * Mounted first on /trpc (before the hand-written routes and tRPC itself). The
 * answer is the one tRPC gives an error found before any call (its own
 * maxBatchSize, a bad path): one `{ error }` for the whole request, not one per
 * call. Both batch links read that into a TRPCClientError per call
 * (httpBatchStreamLink reads only that shape from a non-2xx answer).
 * tRPC's own maxBatchSize is not used: its message cannot be set.
 */
import { TRPCError } from "@trpc/server";
import type express from "express";
import { transformer } from "../../shared/transformer.js";
import { type AppServices, createContextInner } from "./context.js";
import { appRouter } from "./routers/_app.js";
import { getErrorShape, getHTTPStatusCode, routerConfig } from "./trpc-internals.js";

export function batchLimit(services: AppServices): express.RequestHandler {
  const max = services.config.MAX_BATCH_CALLS;
  return (req, res, next) => {
    // No query string, no batch (the hot, unbatched enqueue passes without parsing a URL).
    if (max === 0 || !req.url.includes("?")) return next();
    const calls = batchCalls(req);
    if (calls === undefined || calls <= max) return next();
    const error = new TRPCError({ code: "BAD_REQUEST", message: `a batch may hold at most ${max} calls` });
    const shape = getErrorShape({
      config: routerConfig(appRouter),
      // The app's own context (its NODE_ENV decides what the formatter shows), signed out: nothing was authenticated.
      ctx: createContextInner(services, null),
      error,
      input: undefined,
      path: undefined,
      type: "unknown",
    });
    const json = JSON.stringify({ error: transformer.serialize(shape) });
    res.writeHead(getHTTPStatusCode({ error: shape }), {
      vary: "trpc-accept, accept",
      "content-type": "application/json",
      "content-length": Buffer.byteLength(json),
    });
    res.end(json);
  };
}

/** The calls in a batch, counted as tRPC counts them; undefined when not a batch (or a path tRPC refuses anyway). */
function batchCalls(req: express.Request): number | undefined {
  const url = new URL(req.originalUrl, "http://localhost");
  if (url.searchParams.get("batch") !== "1") return undefined;
  // tRPC's Express adapter: the last path segment, %-decoded (so `%2C` separates calls too).
  const segment = req.path.slice(req.path.lastIndexOf("/") + 1);
  try {
    return decodeURIComponent(segment).split(",").length;
  } catch {
    return undefined;
  }
}
