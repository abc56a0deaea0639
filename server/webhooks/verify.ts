/**
 * For receivers: verify a delivery before trusting it. Pass the raw request
 * body (not re-serialised JSON) and the request headers; throws when the
 * signature, or a timestamp more than five minutes off, does not check out.
 *
 *   import { verifyWebhook } from "./server/webhooks/verify.js";
 *   const event = verifyWebhook(process.env.WEBHOOK_SECRET, rawBody, req.headers);
 */
import { Webhook } from "standardwebhooks";

export interface WebhookEvent {
  type: string;
  timestamp: string;
  data: unknown;
}

export function verifyWebhook(
  secret: string,
  rawBody: string | Buffer,
  headers: Record<string, string | string[] | undefined>,
): WebhookEvent {
  const pick = (name: string) => {
    const value = headers[name];
    return Array.isArray(value) ? (value[0] ?? "") : (value ?? "");
  };
  return new Webhook(secret).verify(rawBody, {
    "webhook-id": pick("webhook-id"),
    "webhook-timestamp": pick("webhook-timestamp"),
    "webhook-signature": pick("webhook-signature"),
  }) as WebhookEvent;
}
