/** workflows.*: start a declared workflow with its typed input, read, list and cancel. Scoped to the caller. */
import { z } from "zod";
import { workflowStartSchema, workflowStatuses } from "../../shared/workflows.js";
import { decodePageCursor, ownerScope } from "../jobs/queries.js";
import { authedProcedure, router } from "../trpc.js";
import { cancelWorkflow, startWorkflow } from "../workflows/engine.js";
import { workflows } from "../workflows/index.js";
import { getWorkflow, listWorkflows } from "../workflows/views.js";
import { pageInput } from "./jobs.js";

const workflowIdInput = z.object({ workflowId: z.uuid() });

export const workflowsRouter = router({
  /** Starts the workflow; returns at once with its id (its first steps are already enqueued). */
  start: authedProcedure.input(workflowStartSchema).mutation(async ({ ctx, input }) => {
    const workflowId = await startWorkflow(ctx.pool, ctx.user.id, input.name, input.input);
    ctx.logger.info({ workflowId, name: input.name }, "workflow started");
    return { workflowId, status: "pending" as const };
  }),

  get: authedProcedure
    .input(workflowIdInput)
    .query(({ ctx, input }) => getWorkflow(ctx.pool, ctx.user, input.workflowId)),

  list: authedProcedure
    .input(z.object({ status: z.enum(workflowStatuses).optional(), ...pageInput }).default({ limit: 50 }))
    .query(({ ctx, input }) =>
      listWorkflows(ctx.pool, ctx.user, {
        status: input.status,
        cursor: input.cursor ? decodePageCursor(input.cursor) : undefined,
        limit: input.limit,
      }),
    ),

  cancel: authedProcedure.input(workflowIdInput).mutation(async ({ ctx, input }) => {
    await cancelWorkflow(ctx.pool, ownerScope(ctx.user), input.workflowId);
    return getWorkflow(ctx.pool, ctx.user, input.workflowId);
  }),

  /** The workflows clients may start, for forms: name and description. */
  definitions: authedProcedure.query(() =>
    Object.values(workflows).map(({ name, description }) => ({ name, description })),
  ),
});
