/**
 * The webhook task: one signed POST (Standard Webhooks) to a user's endpoint.
 * 2xx succeeds; 408, 429, 5xx, timeouts and network errors are retried (with
 * Retry-After honoured); 410 disables the endpoint and fails for good; any
 * other 4xx or a 3xx (redirects are not followed) fails for good. Every attempt
 * is logged in webhook_attempts. The target is checked against private
 * addresses again at delivery, and the connection goes to the checked address.
 */
import { webhookJob } from "../../shared/jobs.js";
import { signingSecrets } from "../webhooks/endpoints.js";
import { messageIdFor, webhookHeaders } from "../webhooks/signing.js";
import { checkTarget, UnsafeTargetError } from "../webhooks/ssrf.js";
import { PermanentError, TransientError } from "./errors.js";
import { defineTask } from "./types.js";

const RETRYABLE = new Set([408, 429]);

/** Retry-After in seconds or as an HTTP date, in milliseconds from now. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

export const webhookTask = defineTask({
  type: "webhook",
  schema: webhookJob,
  maxAttempts: 8,
  backoff: { baseMs: 5_000, maxMs: 30 * 60_000 },
  timeouts: { softMs: 30_000, hardMs: 40_000 },
  async checkForOwner({ pool }, ownerId, payload) {
    const { rows } = await pool.query<{ disabled: boolean }>(
      "SELECT disabled_at IS NOT NULL AS disabled FROM webhook_endpoints WHERE id = $1 AND owner_id = $2",
      [payload.endpointId, ownerId],
    );
    if (!rows[0]) return { field: "endpointId", message: "endpointId is not one of your webhook endpoints" };
    if (rows[0].disabled) return { field: "endpointId", message: "endpointId names a disabled endpoint" };
    return undefined;
  },
  async run({ jobId, attempt, payload, signal, services, logger }) {
    const { db, config, network } = services;
    const job = await db.job.findUniqueOrThrow({ where: { id: jobId }, select: { ownerId: true } });
    const endpoint = await db.webhookEndpoint.findFirst({ where: { id: payload.endpointId, ownerId: job.ownerId } });
    if (!endpoint) throw new PermanentError(`webhook endpoint ${payload.endpointId} no longer exists`);
    if (endpoint.disabledAt) throw new PermanentError(`webhook endpoint ${endpoint.id} is disabled`);

    const started = Date.now();
    const log = (entry: { statusCode?: number; error?: string; excerpt?: string }) =>
      db.webhookAttempt.create({
        data: {
          jobId,
          attempt,
          url: endpoint.url,
          statusCode: entry.statusCode ?? null,
          durationMs: Date.now() - started,
          error: entry.error ?? null,
          responseExcerpt: entry.excerpt ?? null,
        },
      });

    let target: Awaited<ReturnType<typeof checkTarget>>;
    try {
      target = await checkTarget(endpoint.url, {
        allowLoopback: config.WEBHOOK_ALLOW_LOOPBACK,
        resolve: network.resolve,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await log({ error: message });
      if (error instanceof UnsafeTargetError) throw new PermanentError(message);
      throw new TransientError(`could not resolve the endpoint: ${message}`, { cause: error });
    }
    signal.throwIfAborted();

    const msgId = messageIdFor(jobId);
    const timestamp = new Date();
    const body = JSON.stringify({ type: payload.event, timestamp: timestamp.toISOString(), data: payload.data });
    let response: Awaited<ReturnType<typeof network.connect>>;
    try {
      response = await network.connect({
        target,
        headers: webhookHeaders(signingSecrets(endpoint), msgId, timestamp, body),
        body,
        timeoutMs: config.WEBHOOK_TIMEOUT_MS,
        signal,
      });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await log({ error: message });
      throw new TransientError(`delivery failed: ${message}`, { cause: error });
    }
    const { status, excerpt } = response;
    await log({ statusCode: status, excerpt });
    logger.info({ status, msgId }, "webhook delivered");

    if (status >= 200 && status < 300) return { status, attempts: attempt };
    if (status === 410) {
      await db.webhookEndpoint.update({ where: { id: endpoint.id }, data: { disabledAt: new Date() } });
      throw new PermanentError(`the endpoint answered 410 Gone; it is now disabled`);
    }
    if (RETRYABLE.has(status) || status >= 500) {
      throw new TransientError(`the endpoint answered ${status}`, {
        retryAfterMs: parseRetryAfter(response.headers["retry-after"]),
      });
    }
    throw new PermanentError(
      status >= 300 && status < 400
        ? `the endpoint answered ${status} (redirects are not followed)`
        : `the endpoint answered ${status}`,
    );
  },
});
