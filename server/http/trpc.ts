/**
 * server/http/ owns the HTTP faces: tRPC (here, context.ts, routers/), the SSE and enqueue routes, REST, export
 * downloads, the dev webhook receiver and the batch limit. Must not: hold job logic (it calls jobs/, lifecycle/,
 * workflows/); only trpc-internals.ts imports tRPC internals. Nothing below server/http/ imports it.
 *
 * The one initTRPC. Zod failures reach the client as `data.zodError.issues`
 * (each with its path), in production too; domain errors become codes a client
 * can switch on (NOT_FOUND, CONFLICT, ...).
 */
import { initTRPC, TRPCError } from "@trpc/server";
import { ZodError, type z } from "zod";
import { transformer } from "../../shared/transformer.js";
import { isDatabaseUnavailable, isDataException } from "../db/unavailable.js";
import {
  FieldIssuesError,
  IdempotencyConflictError,
  IllegalTransitionError,
  JobNotFoundError,
  WorkflowConflictError,
  WorkflowNotFoundError,
} from "../errors.js";
import { RateLimitedError, rateLimitOf } from "../limits/rate-limited.js";
import { inputIssues } from "../security/input-shape.js";
import { EndpointNotFoundError } from "../webhooks/endpoints.js";
import type { Context } from "./context.js";

const t = initTRPC.context<Context>().create({
  transformer,
  isDev: process.env.NODE_ENV !== "production",
  errorFormatter({ shape, error, ctx }) {
    const issues = zodIssuesOf(error.cause);
    const limited = rateLimitOf(error.cause);
    const data = {
      ...shape.data,
      zodError: issues ? { issues } : null,
      // When a retry can succeed (TOO_MANY_REQUESTS only).
      ...(limited ? { retryAfterMs: limited.retryAfterMs } : {}),
    };
    // tRPC sends a 500's message as thrown (a Prisma or Postgres error's own
    // words, with SQL and file paths) and isDev alone decides the stack. The
    // app's config decides here (tests start production apps in one process);
    // the log keeps the cause.
    if ((ctx?.config.NODE_ENV ?? process.env.NODE_ENV) !== "production") return { ...shape, data };
    delete data.stack;
    return error.code === "INTERNAL_SERVER_ERROR"
      ? { ...shape, message: "Internal server error", data }
      : { ...shape, data };
  },
});

/** "payload.to: Invalid email address; ..." — names each field. */
/**
 * The zod issues carried by an error's cause. zod 4's ZodError is not an
 * Error subclass, so tRPC wraps it (copying its fields) and instanceof fails:
 * recognise it by shape too.
 */
function zodIssuesOf(cause: unknown): z.core.$ZodIssue[] | undefined {
  if (cause instanceof ZodError) return cause.issues;
  const issues = (cause as { issues?: unknown } | undefined)?.issues;
  return Array.isArray(issues) ? (issues as z.core.$ZodIssue[]) : undefined;
}

function describeIssues(issues: z.core.$ZodIssue[]): string {
  return issues.map((i) => `${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`).join("; ");
}

/** Maps errors thrown by the job modules to tRPC codes. */
function toTrpcError(cause: unknown): TRPCError | undefined {
  if (
    cause instanceof JobNotFoundError ||
    cause instanceof EndpointNotFoundError ||
    cause instanceof WorkflowNotFoundError
  ) {
    return new TRPCError({ code: "NOT_FOUND", message: cause.message, cause });
  }
  if (
    cause instanceof IllegalTransitionError ||
    cause instanceof IdempotencyConflictError ||
    cause instanceof WorkflowConflictError
  ) {
    return new TRPCError({ code: "CONFLICT", message: cause.message, cause });
  }
  if (cause instanceof RateLimitedError) {
    return new TRPCError({ code: "TOO_MANY_REQUESTS", message: cause.message, cause });
  }
  const issues = zodIssuesOf(cause);
  if (issues) return new TRPCError({ code: "BAD_REQUEST", message: describeIssues(issues), cause });
  // Input the database cannot store. The schemas should catch it first; this
  // keeps any gap a 400, never a 500.
  if (isDataException(cause)) {
    return new TRPCError({ code: "BAD_REQUEST", message: "A value in the request cannot be stored", cause });
  }
  // Postgres unreachable: say so, rather than a generic 500.
  if (isDatabaseUnavailable(cause)) {
    return new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "The database is unavailable; try again", cause });
  }
  return undefined;
}

const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok) {
    const mapped = toTrpcError(result.error.cause);
    if (mapped) throw mapped;
  }
  return result;
});

/** Cookie-authenticated mutations from another site stop here, before they run (server/security/cross-site.ts). */
const refuseCrossSite = t.middleware(({ ctx, type, next }) => {
  if (type === "mutation" && ctx.mutationRefusal) throw new TRPCError(ctx.mutationRefusal);
  return next();
});

/** Raw input that could hang, overflow or reach the database as a 500 stops here (server/security/input-shape.ts). */
const refuseUnsafeInput = t.middleware(async ({ getRawInput, next }) => {
  const issues = inputIssues(await getRawInput());
  if (issues.length > 0) throw new FieldIssuesError(issues);
  return next();
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(refuseCrossSite).use(mapErrors).use(refuseUnsafeInput);

export const authedProcedure = publicProcedure.use(({ ctx, next }) => {
  if (!ctx.user) throw new TRPCError({ code: "UNAUTHORIZED", message: "Sign in or send a bearer token" });
  return next({ ctx: { ...ctx, user: ctx.user } });
});
