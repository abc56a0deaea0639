/** webhooks.*: a user's endpoints (secrets shown once), a delivery's attempt log, and replay. */
import { TRPCError } from "@trpc/server";
import { z } from "zod";
import { FieldIssuesError } from "../../errors.js";
import { findJob } from "../../jobs/queries.js";
import { enqueueJobs } from "../../lifecycle/enqueue.js";
import {
  createEndpoint,
  findEndpoint,
  rotateSecret,
  SecretRotationForbiddenError,
  toEndpointView,
} from "../../webhooks/endpoints.js";
import { UnsafeTargetError } from "../../webhooks/ssrf.js";
import { authedProcedure, router } from "../trpc.js";
import { jobIdInput } from "./jobs.js";

const idInput = z.object({ id: z.uuid() });

export const webhooksRouter = router({
  createEndpoint: authedProcedure
    .input(z.object({ url: z.string().max(2048), description: z.string().max(500).optional() }))
    .mutation(async ({ ctx, input }) => {
      try {
        const { id, secret } = await createEndpoint(ctx.db, ctx.user, input, {
          allowLoopback: ctx.config.WEBHOOK_ALLOW_LOOPBACK,
          resolve: ctx.network.resolve,
          timeoutMs: ctx.config.WEBHOOK_TIMEOUT_MS,
        });
        return { id, secret };
      } catch (error) {
        if (error instanceof UnsafeTargetError) {
          // Shaped like a schema error so clients show it beside the url field:
          // "url: must resolve only to public addresses" for a host name that
          // resolves privately or not at all (never the resolved address).
          throw new FieldIssuesError([{ code: "custom", path: ["url"], message: error.message }]);
        }
        throw error;
      }
    }),

  listEndpoints: authedProcedure.query(async ({ ctx }) => {
    const endpoints = await ctx.db.webhookEndpoint.findMany({
      where: { ownerId: ctx.user.id },
      orderBy: { createdAt: "desc" },
    });
    return endpoints.map(toEndpointView);
  }),

  disableEndpoint: authedProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const endpoint = await findEndpoint(ctx.db, ctx.user, input.id);
    return toEndpointView(
      await ctx.db.webhookEndpoint.update({ where: { id: endpoint.id }, data: { disabledAt: new Date() } }),
    );
  }),

  deleteEndpoint: authedProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    const endpoint = await findEndpoint(ctx.db, ctx.user, input.id);
    await ctx.db.webhookEndpoint.delete({ where: { id: endpoint.id } });
    return { id: endpoint.id, deleted: true as const };
  }),

  /**
   * The new secret goes to the caller, so only the endpoint's owner may rotate
   * it: an admin gets FORBIDDEN on another user's endpoint and nothing changes.
   * Admins may still disable or delete other users' endpoints (those reveal no
   * secret). Another non-admin user gets NOT_FOUND, as for every endpoint call.
   */
  rotateSecret: authedProcedure.input(idInput).mutation(async ({ ctx, input }) => {
    try {
      return { secret: await rotateSecret(ctx.db, ctx.user, input.id, ctx.config.WEBHOOK_SECRET_GRACE_HOURS) };
    } catch (error) {
      if (error instanceof SecretRotationForbiddenError) {
        throw new TRPCError({ code: "FORBIDDEN", message: error.message, cause: error });
      }
      throw error;
    }
  }),

  /** Every delivery attempt of a webhook job: status, duration, error, response excerpt. */
  attempts: authedProcedure.input(jobIdInput).query(async ({ ctx, input }) => {
    await findJob(ctx.db, ctx.user, input.jobId);
    const attempts = await ctx.db.webhookAttempt.findMany({ where: { jobId: input.jobId }, orderBy: { id: "asc" } });
    return attempts.map((a) => ({
      attempt: a.attempt,
      url: a.url,
      statusCode: a.statusCode,
      durationMs: a.durationMs,
      error: a.error,
      responseExcerpt: a.responseExcerpt,
      at: a.at,
    }));
  }),

  /** Sends a webhook job's event again, as a new delivery (a new job and webhook-id). */
  replay: authedProcedure.input(jobIdInput).mutation(async ({ ctx, input }) => {
    const job = await findJob(ctx.db, ctx.user, input.jobId);
    if (job.type !== "webhook") {
      throw new TRPCError({ code: "BAD_REQUEST", message: "Only webhook jobs can be replayed" });
    }
    // The caller's buckets pay for it (an admin replaying another user's delivery included).
    const [jobId] = await enqueueJobs(ctx.pool, job.ownerId, [{ type: "webhook", payload: job.payload }], {
      idempotencyTtlHours: ctx.config.IDEMPOTENCY_TTL_HOURS,
      rateLimit: { userId: ctx.user.id, limits: ctx.config },
    });
    return { jobId: jobId as string, status: "pending" as const, pollUrl: `/api/jobs/${jobId}` };
  }),
});
