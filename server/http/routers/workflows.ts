/** workflows.*: start a declared workflow with its typed input, read, list and cancel. Scoped to the caller. */
import { z } from "zod";
import { workflowStartSchema, workflowStatuses } from "../../../shared/workflows.js";
import { ownerScope } from "../../auth/scope.js";
import { decodePageCursor } from "../../jobs/queries.js";
import { cancelWorkflow, startWorkflow } from "../../lifecycle/workflows.js";
import { takeJobTokens } from "../../limits/buckets.js";
import { buildTree } from "../../workflows/define.js";
import { workflowFor, workflows } from "../../workflows/index.js";
import { plan } from "../../workflows/plan.js";
import { getWorkflow, listWorkflows } from "../../workflows/views.js";
import { authedProcedure, router } from "../trpc.js";
import { pageInput } from "./jobs.js";

const workflowIdInput = z.object({ workflowId: z.uuid() });

/**
 * The steps a start would enqueue at once (the plan's first answer, which the
 * lifecycle/workflows.ts applies in its transaction); none when the input is refused, which
 * startWorkflow then reports.
 */
function firstSteps(name: string, rawInput: unknown): { type: string }[] {
  const definition = workflowFor(name);
  const parsed = definition?.input.safeParse(rawInput);
  if (!definition || !parsed?.success) return [];
  try {
    return plan(buildTree(definition, parsed.data), parsed.data, new Map()).start;
  } catch {
    return [];
  }
}

export const workflowsRouter = router({
  /** Starts the workflow; returns at once with its id (its first steps are already enqueued). */
  start: authedProcedure.input(workflowStartSchema).mutation(async ({ ctx, input }) => {
    // The jobs it enqueues at once draw on the caller's buckets; steps released later do not.
    const first = firstSteps(input.name, input.input);
    if (first.length > 0) {
      const counts = { jobs: first.length, emails: first.filter((step) => step.type === "email").length };
      await takeJobTokens(ctx.pool, ctx.user.id, ctx.config, counts, ["input"]);
    }
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
