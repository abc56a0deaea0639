/** jobs.*: enqueue, read, act on and stream jobs. Every call is scoped to the caller. */
import { tracked } from "@trpc/server";
import { z } from "zod";
import { enqueueItemSchema, enqueueManySchema, storableText } from "../../../shared/jobs.js";
import { jobStatuses } from "../../../shared/states.js";
import { eventsInput, jobEventStream } from "../../jobs/event-stream.js";
import { decodePageCursor, getJobWithEvents, listJobs, pageCursorInput } from "../../jobs/queries.js";
import { toJobView } from "../../jobs/serialize.js";
import { cancelJob, requeueJob } from "../../lifecycle/actions.js";
import { enqueueJobs } from "../../lifecycle/enqueue.js";
import { streamLimiter } from "../../limits/streams.js";
import { authedProcedure, router } from "../trpc.js";

export const jobIdInput = z.object({ jobId: z.uuid() });

export const pageInput = {
  cursor: pageCursorInput,
  limit: z.number().int().min(1).max(200).default(50),
};

export const jobsRouter = router({
  enqueue: authedProcedure.input(enqueueItemSchema).mutation(async ({ ctx, input }) => {
    const [jobId] = await enqueueJobs(ctx.pool, ctx.user.id, [input], {
      idempotencyTtlHours: ctx.config.IDEMPOTENCY_TTL_HOURS,
      rateLimit: { userId: ctx.user.id, limits: ctx.config },
    });
    if (!jobId) throw new Error("enqueue returned no id");
    ctx.logger.info({ jobId, type: input.type, state: "pending" }, "job enqueued");
    // status: the enqueue was accepted; jobs.get tells a repeated key's current state.
    return { jobId, status: "pending" as const, pollUrl: `/api/jobs/${jobId}` };
  }),

  enqueueMany: authedProcedure.input(enqueueManySchema).mutation(async ({ ctx, input }) => {
    const jobIds = await enqueueJobs(ctx.pool, ctx.user.id, input.jobs, {
      idempotencyTtlHours: ctx.config.IDEMPOTENCY_TTL_HOURS,
      rateLimit: { userId: ctx.user.id, limits: ctx.config },
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
        search: storableText("search").pipe(z.string().trim().min(1).max(255)).optional(),
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
    .input(eventsInput)
    // "From now on" means from when the request arrived: tRPC tells the client
    // the stream is open before the generator below starts, so the hub's
    // position is taken here, and the gap up to the live subscription is
    // backfilled from the log.
    .use(({ ctx, next }) => next({ ctx: { streamFrom: ctx.hub.currentHead() } }))
    .subscription(async function* ({ ctx, input, signal }) {
      // The same stream the hand-written SSE route serves (server/http/event-stream-route.ts).
      // Counted against MAX_STREAMS_PER_USER with the route's streams (one count per process).
      const deps = { ...ctx, streams: streamLimiter(ctx) };
      for await (const batch of jobEventStream(deps, input, ctx.streamFrom, signal)) {
        for (const event of batch) yield tracked(event.id, event);
      }
    }),
});
