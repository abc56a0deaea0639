/** dlq.*: the dead-letter queue, for owners (their jobs) and admins (everyone's). */
import { z } from "zod";
import { dlqReasons } from "../../../shared/states.js";
import { decodePageCursor, listDeadLetters } from "../../jobs/queries.js";
import { toJobView } from "../../jobs/serialize.js";
import {
  type DlqSelection,
  discardJob,
  discardMany,
  MAX_BULK,
  requeueJob,
  requeueMany,
} from "../../lifecycle/actions.js";
import { authedProcedure, router } from "../trpc.js";
import { jobIdInput, pageInput } from "./jobs.js";

/**
 * { jobIds } or { filter }: the selection of a bulk action (jobIds wins if
 * both are sent). One object rather than a union, so a bad field is named in
 * the path: a failed union names no path.
 */
const selectionInput = z
  .object({
    jobIds: z.array(z.uuid()).min(1).max(MAX_BULK).optional(),
    filter: z
      .object({
        type: z
          .string()
          .regex(/^[A-Za-z0-9_-]+$/, "type must be a job type name")
          .optional(),
        reason: z.enum(dlqReasons).optional(),
      })
      .optional(),
  })
  .refine((s) => s.jobIds !== undefined || s.filter !== undefined, "Send jobIds or filter")
  .transform((s): DlqSelection => (s.jobIds ? { jobIds: s.jobIds } : { filter: s.filter ?? {} }));

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

  /** Requeues the listed dead-lettered jobs, or all matching a filter: { count, jobIds }. */
  requeueMany: authedProcedure
    .input(selectionInput)
    .mutation(({ ctx, input }) => requeueMany(ctx.db, ctx.pool, ctx.user, input)),

  /** Discards the listed dead-lettered jobs, or all matching a filter: { count, jobIds }. */
  discardMany: authedProcedure
    .input(selectionInput)
    .mutation(({ ctx, input }) => discardMany(ctx.db, ctx.pool, ctx.user, input)),
});
