/**
 * jobs.enqueue over HTTP, run through tRPC's own procedure (a server-side
 * caller: the same middlewares, input schema and error formatter) and answered
 * in tRPC's wire format, without tRPC's fetch-style Node adapter.
 *
 * Why: enqueue is the hot mutation, and per request the adapter builds a WHATWG
 * Request, an AbortController and web streams for the body and the answer.
 * With the clients no longer the bottleneck, that was about a third of the
 * server's CPU per enqueue (docs/performance.md).
 *
 * Who it serves: single-call HTTP clients (httpLink, curl, other languages,
 * the bench's). The dashboard and the README's client batch their calls
 * (`?batch=1`), which it leaves to tRPC. Kept because the bench says so: HTTP
 * enqueue 0.60x to 0.62x of raw add_job with it, 0.43x to 0.44x without
 * (target 0.5x), same machine and hour. TRPC_FAST_PATHS=off unmounts it
 * (server/app.ts); tRPC's internals it uses come from trpc-internals.ts.
 *
 * Only the plain case is served here: a POST with an `application/json` body
 * of known length within the size limit, no query string, that parses and
 * whose context (authentication) resolves. Everything else (a batch, a
 * chunked or oversized body, bad JSON, an unreachable database while
 * authenticating) goes on to tRPC untouched, with the body already read handed
 * over as a string, which tRPC reads as the body. Once the procedure has run,
 * its answer, success or error, is sent here as tRPC sends it: the same status,
 * the same JSON, shaped by the same formatter (test/api/enqueue-route.test.ts
 * compares both), Retry-After included when the call was rate limited.
 */
import type { TRPCError } from "@trpc/server";
import type express from "express";
import { transformer } from "../../shared/transformer.js";
import { retryAfterSeconds } from "../limits/rate-limited.js";
import { type AppServices, type Context, createRequestContext } from "./context.js";
import { appRouter } from "./routers/_app.js";
import { createCallerFactory } from "./trpc.js";
import { getErrorShape, getHTTPStatusCode, getTRPCErrorFromUnknown, routerConfig } from "./trpc-internals.js";

const PATH = "/jobs.enqueue";
const config = routerConfig(appRouter);
const createCaller = createCallerFactory(appRouter);

/** tRPC's media type check: the type before any parameters, case-insensitive. */
function isJson(contentType: string | undefined): boolean {
  return contentType?.split(";", 1)[0]?.trim().toLowerCase() === "application/json";
}

export function enqueueRoute(
  services: AppServices,
  onError: (error: TRPCError, procedure: string) => void,
): express.RequestHandler {
  const limit = services.config.MAX_BODY_BYTES;
  return (req, res, next) => {
    const length = Number(req.headers["content-length"]);
    if (
      req.method !== "POST" ||
      req.path !== PATH ||
      req.url.includes("?") ||
      !isJson(req.headers["content-type"]) ||
      !(length > 0 && length <= limit) ||
      // A streaming (JSONL) answer asked for: tRPC refuses it unbatched, before running anything.
      req.headers["trpc-accept"] !== undefined ||
      req.headers.accept?.includes("application/jsonl")
    ) {
      return next();
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    // A client gone mid-upload: nothing to answer, and nothing to log (tRPC logs nothing either).
    req.on("error", () => {});
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      const toTrpc = () => {
        // tRPC takes a string body as the request's body (its Node adapter's createBody).
        (req as { body?: unknown }).body = text;
        next();
      };
      let input: unknown;
      try {
        input = transformer.deserialize(JSON.parse(text));
      } catch {
        return toTrpc();
      }
      createRequestContext(services, req, res).then(
        (ctx) => answer(ctx, input, res, onError).catch(next),
        () => toTrpc(),
      );
    });
  };
}

async function answer(
  ctx: Context,
  input: unknown,
  res: express.Response,
  onError: (error: TRPCError, procedure: string) => void,
): Promise<void> {
  let body: unknown;
  let status = 200;
  // A limited call (the enqueue bucket): tRPC's responseMeta sends this header (server/app.ts), so the route does too.
  let retryAfter: number | undefined;
  try {
    const data = await createCaller(ctx).jobs.enqueue(input as never);
    body = { result: { data: transformer.serialize(data) } };
  } catch (cause) {
    const error = getTRPCErrorFromUnknown(cause);
    onError(error, "jobs.enqueue");
    const shape = getErrorShape({ config, ctx, error, input, path: "jobs.enqueue", type: "mutation" });
    status = getHTTPStatusCode({ error: shape });
    body = { error: transformer.serialize(shape) };
    retryAfter = retryAfterSeconds([error]);
  }
  const json = JSON.stringify(body);
  res.writeHead(status, {
    // tRPC's headers for a single call.
    vary: "trpc-accept, accept",
    "content-type": "application/json",
    "content-length": Buffer.byteLength(json),
    ...(retryAfter === undefined ? {} : { "retry-after": String(retryAfter) }),
  });
  res.end(json);
}
