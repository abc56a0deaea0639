/** dlq.*: the dead-letter queue, for owners (their jobs) and admins (everyone's). */
import { z } from "zod";
import { discardJob, requeueJob } from "../jobs/actions.js";
import { decodePageCursor, listDeadLetters } from "../jobs/queries.js";
import { toJobView } from "../jobs/serialize.js";
import { authedProcedure, router } from "../trpc.js";
import { jobIdInput, pageInput } from "./jobs.js";

export const dlqRouter = router({
  list: authedProcedure.input(z.object(pageInput)).query(({ ctx, input }) =>
    listDeadLetters(ctx.db, ctx.user, {
      cursor: input.cursor ? decodePageCursor(input.cursor) : undefined,
      limit: input.limit,
    }),
  ),

  requeue: authedProcedure
    .input(jobIdInput)
    .mutation(async ({ ctx, input }) => toJobView(await requeueJob(ctx.db, ctx.pool, ctx.user, input.jobId))),

  discard: authedProcedure
    .input(jobIdInput)
    .mutation(async ({ ctx, input }) => toJobView(await discardJob(ctx.db, ctx.pool, ctx.user, input.jobId))),
});
