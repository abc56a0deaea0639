/**
 * The webhook task: one signed POST (Standard Webhooks) to a user's endpoint.
 * 2xx succeeds; 408, 429, 5xx, timeouts and network errors are retried (with
 * Retry-After honoured); 410 disables the endpoint and fails for good; any
 * other 4xx or a 3xx (redirects are not followed) fails for good. Every attempt
 * is logged in webhook_attempts. The target is checked against private
 * addresses again at delivery, and the connection goes to the checked address.
 * WEBHOOK_TIMEOUT_MS bounds the whole delivery, DNS lookup included.
 */
import { webhookJob } from "../../shared/jobs.js";
import { PermanentError, TransientError } from "../errors.js";
import { logDeliveryAttempt } from "../webhooks/attempt-log.js";
import { deliveryDeadline } from "../webhooks/deadline.js";
import { endpointForJob, signingSecrets } from "../webhooks/endpoints.js";
import { describeNetworkError } from "../webhooks/http.js";
import { messageIdFor, webhookHeaders } from "../webhooks/signing.js";
import { checkTarget, RESOLVE_PUBLIC_ONLY, UnresolvedHostError, UnsafeTargetError } from "../webhooks/ssrf.js";
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
  ownerCheckKey: (payload) => payload.endpointId,
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
    const { db, pool, config, network } = services;
    const endpoint = await endpointForJob(pool, jobId, payload.endpointId);
    if (!endpoint) throw new PermanentError(`webhook endpoint ${payload.endpointId} no longer exists`);
    if (endpoint.disabledAt) throw new PermanentError(`webhook endpoint ${endpoint.id} is disabled`);

    const started = Date.now();
    const log = (entry: { statusCode?: number; error?: string; excerpt?: string }) =>
      logDeliveryAttempt(pool, {
        jobId,
        attempt,
        url: endpoint.url,
        statusCode: entry.statusCode ?? null,
        durationMs: Date.now() - started,
        error: entry.error ?? null,
        responseExcerpt: entry.excerpt ?? null,
      });

    // One deadline for the whole delivery: DNS lookup, connection, request and
    // reading the excerpt. Every failure is logged as a failed attempt.
    const deadline = deliveryDeadline(config.WEBHOOK_TIMEOUT_MS, signal);
    let response: Awaited<ReturnType<typeof network.connect>>;
    try {
      let target: Awaited<ReturnType<typeof checkTarget>>;
      try {
        target = await checkTarget(endpoint.url, {
          allowLoopback: config.WEBHOOK_ALLOW_LOOPBACK,
          resolve: network.resolve,
          signal: deadline.signal,
        });
      } catch (error) {
        // A DNS failure may pass (EAI_AGAIN, a zone being fixed): retried, and
        // logged by its code only. A host that resolves to a non-public address
        // is refused for good, as at creation, without showing the address.
        if (error instanceof UnsafeTargetError && !(error instanceof UnresolvedHostError)) {
          const message = error.message === RESOLVE_PUBLIC_ONLY ? `url: ${error.message}` : error.message;
          await log({ error: message });
          throw new PermanentError(message, { cause: error });
        }
        const message =
          error instanceof UnresolvedHostError
            ? `could not resolve the host (${error.code})`
            : describeNetworkError(error); // the deadline, or the job's signal
        await log({ error: message });
        throw new TransientError(`delivery failed: ${message}`, { cause: error });
      }

      const msgId = messageIdFor(jobId);
      const timestamp = new Date();
      const body = JSON.stringify({ type: payload.event, timestamp: timestamp.toISOString(), data: payload.data });
      try {
        response = await network.connect({
          target,
          headers: webhookHeaders(signingSecrets(endpoint), msgId, timestamp, body),
          body,
          signal: deadline.signal,
        });
      } catch (error) {
        const message = describeNetworkError(error);
        await log({ error: message });
        throw new TransientError(`delivery failed: ${message}`, { cause: error });
      }
      logger.debug({ status: response.status, msgId }, "webhook delivered");
    } finally {
      deadline.clear();
    }
    const { status, excerpt } = response;
    await log({ statusCode: status, excerpt });

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
