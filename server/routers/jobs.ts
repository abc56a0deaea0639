/** jobs.*: enqueue, read, act on and stream jobs. Every call is scoped to the caller. */
import { TRPCError, tracked } from "@trpc/server";
import { z } from "zod";
import type { JobEvent } from "../../shared/events.js";
import { enqueueItemSchema, enqueueManySchema } from "../../shared/jobs.js";
import { jobStatuses } from "../../shared/states.js";
import { cancelJob, requeueJob } from "../jobs/actions.js";
import { enqueueJobs } from "../jobs/enqueue.js";
import { JobNotFoundError } from "../jobs/errors.js";
import { compareCursors, cursorRetained, decodeCursor, jobEventsSince } from "../jobs/event-log.js";
import { decodePageCursor, findJob, getJobWithEvents, listJobs, ownerScope } from "../jobs/queries.js";
import { toJobView } from "../jobs/serialize.js";
import { authedProcedure, router } from "../trpc.js";

export const jobIdInput = z.object({ jobId: z.uuid() });

export const pageInput = {
  cursor: z
    .string()
    .refine((c) => decodePageCursor(c) !== undefined, "cursor is malformed")
    .nullish(),
  limit: z.number().int().min(1).max(200).default(50),
};

export const jobsRouter = router({
  enqueue: authedProcedure.input(enqueueItemSchema).mutation(async ({ ctx, input }) => {
    const [jobId] = await enqueueJobs(ctx.pool, ctx.user.id, [input], {
      idempotencyTtlHours: ctx.config.IDEMPOTENCY_TTL_HOURS,
    });
    if (!jobId) throw new Error("enqueue returned no id");
    ctx.logger.info({ jobId, type: input.type, state: "pending" }, "job enqueued");
    // status: the enqueue was accepted; jobs.get tells a repeated key's current state.
    return { jobId, status: "pending" as const, pollUrl: `/api/jobs/${jobId}` };
  }),

  enqueueMany: authedProcedure.input(enqueueManySchema).mutation(async ({ ctx, input }) => {
    const jobIds = await enqueueJobs(ctx.pool, ctx.user.id, input.jobs, {
      idempotencyTtlHours: ctx.config.IDEMPOTENCY_TTL_HOURS,
    });
    ctx.logger.info({ count: jobIds.length }, "jobs enqueued");
    return { jobIds };
  }),

  get: authedProcedure
    .input(jobIdInput)
    .query(({ ctx, input }) => getJobWithEvents(ctx.db, ctx.pool, ctx.user, input.jobId)),

  list: authedProcedure
    .input(
      z.object({
        status: z.enum(jobStatuses).optional(),
        type: z
          .string()
          .max(100)
          .regex(/^[A-Za-z0-9_-]+$/, "type must be a job type name")
          .optional(),
        /** A job id or an idempotency key. */
        search: z.string().trim().min(1).max(255).optional(),
        ...pageInput,
      }),
    )
    .query(({ ctx, input }) =>
      listJobs(ctx.db, ctx.user, {
        status: input.status,
        type: input.type,
        search: input.search,
        cursor: input.cursor ? decodePageCursor(input.cursor) : undefined,
        limit: input.limit,
      }),
    ),

  cancel: authedProcedure
    .input(jobIdInput)
    .mutation(async ({ ctx, input }) => toJobView(await cancelJob(ctx.db, ctx.pool, ctx.user, input.jobId))),

  retry: authedProcedure
    .input(jobIdInput)
    .mutation(async ({ ctx, input }) => toJobView(await requeueJob(ctx.db, ctx.pool, ctx.user, input.jobId))),

  /**
   * Every state change and progress update, as tracked events. With lastEventId
   * it first replays what came after that event (exactly once), then goes live.
   */
  events: authedProcedure
    .input(
      z.object({
        jobId: z.uuid().optional(),
        lastEventId: z
          .string()
          .refine((id) => decodeCursor(id) !== undefined, "lastEventId is malformed")
          .nullish(),
      }),
    )
    // "From now on" means from when the request arrived: tRPC tells the client
    // the stream is open before the generator below starts, so the hub's
    // position is taken here, and the gap up to the live subscription is
    // backfilled from the log.
    .use(({ ctx, next }) => next({ ctx: { streamFrom: ctx.hub.currentHead() } }))
    .subscription(async function* ({ ctx, input, signal }) {
      // Errors thrown inside the generator bypass the error-mapping middleware, so map here.
      if (input.jobId) {
        await findJob(ctx.db, ctx.user, input.jobId).catch((error: unknown) => {
          if (error instanceof JobNotFoundError) throw new TRPCError({ code: "NOT_FOUND", message: error.message });
          throw error;
        });
      }
      const scope = { ownerId: ownerScope(ctx.user), jobId: input.jobId };
      // Live first, so nothing settles between the backfill and going live.
      const live = ctx.hub.subscribe(scope);
      const stop = () => live.close();
      signal?.addEventListener("abort", stop);
      try {
        let cursor = ctx.streamFrom;
        if (input.lastEventId) {
          const from = decodeCursor(input.lastEventId);
          if (!from) throw new TRPCError({ code: "BAD_REQUEST", message: "lastEventId is malformed" });
          if (!(await cursorRetained(ctx.pool, from))) {
            throw new TRPCError({
              code: "PRECONDITION_FAILED",
              message: "lastEventId is older than the retained event history; refetch the jobs",
            });
          }
          cursor = from;
        }
        if (compareCursors(cursor, live.startCursor) < 0) {
          for (;;) {
            const page = await jobEventsSince(ctx.pool, cursor, scope, 500, { checkHeldBack: false });
            for (const { cursor: at, event } of page.events) {
              cursor = at;
              yield tracked(event.id, event);
            }
            if (page.events.length < 500) break;
          }
        }
        for await (const { cursor: at, event } of live) {
          if (compareCursors(at, cursor) <= 0) continue; // already sent by the backfill
          cursor = at;
          yield tracked(event.id, event as JobEvent);
        }
      } finally {
        signal?.removeEventListener("abort", stop);
        live.close();
      }
    }),
});
