/**
 * Everything of tRPC's beyond its documented adapter use, in one place: the
 * only file that imports `@trpc/server/unstable-core-do-not-import` (the lint,
 * scripts/check-layers.ts, refuses it anywhere else).
 *
 * Why: the hand-written routes answer in tRPC's own wire format without its
 * HTTP adapter. The SSE route (jobs.events, event-stream-route.ts) and the
 * enqueue route (jobs.enqueue, enqueue-route.ts) are the fast paths
 * (TRPC_FAST_PATHS, docs/performance.md); the batch guard (batch-limit.ts)
 * answers before tRPC does. To send an error as tRPC would, they shape it
 * with the router's own error formatter (getErrorShape, the router's config),
 * pick tRPC's status for it (getHTTPStatusCode), turn anything thrown into a
 * TRPCError as tRPC does (getTRPCErrorFromUnknown), and tell a reader that left
 * from a failure as tRPC's stream does (isAbortError).
 *
 * Checked against @trpc/server 11.22.1. isAbortError and the router's
 * `_def._config` are internals and may change in any release; the other three
 * are exported from `@trpc/server` and `@trpc/server/http`. The wire format the
 * routes write (SSE framing, headers, JSON envelopes) is not an API at all.
 * On any tRPC upgrade, run the parity tests, which compare each route's bytes
 * with tRPC's own answer over real HTTP:
 *   test/api/event-stream-route.test.ts   jobs.events: headers, live events, resume, errors in the stream
 *   test/api/enqueue-route.test.ts        jobs.enqueue: success, field errors, conflicts, 401
 *   test/limits/enqueue-limits.test.ts    jobs.enqueue limited: 429, Retry-After
 *   test/limits/batch.test.ts             the batch guard's 400, read by tRPC's own batch links
 *   test/api/fast-paths.test.ts           TRPC_FAST_PATHS=off: tRPC's adapter serves both calls alike
 * If a parity test fails after an upgrade and the fix is not obvious,
 * TRPC_FAST_PATHS=off serves everything through tRPC's adapter meanwhile.
 */
import { type AnyRouter, getErrorShape, getTRPCErrorFromUnknown } from "@trpc/server";
import { getHTTPStatusCode } from "@trpc/server/http";
import { isAbortError } from "@trpc/server/unstable-core-do-not-import";

export { getErrorShape, getHTTPStatusCode, getTRPCErrorFromUnknown, isAbortError };

/** The router's root config (its transformer, error formatter, SSE options), as tRPC's adapter reads it. */
export function routerConfig<TRouter extends AnyRouter>(router: TRouter): TRouter["_def"]["_config"] {
  return router._def._config;
}
