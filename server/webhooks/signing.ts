/**
 * Standard Webhooks signing (https://www.standardwebhooks.com), through the
 * spec's own `standardwebhooks` library: webhook-id, webhook-timestamp and
 * webhook-signature ("v1,<base64 HMAC-SHA256 of id.timestamp.body>", several
 * space-separated while a rotated secret is in its grace period).
 */
import { randomBytes } from "node:crypto";
import { Webhook } from "standardwebhooks";

/** A new signing secret: whsec_ and 32 random bytes in base64. */
export function newSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

/** The stable message id of a webhook job: the same on every retry. */
export function messageIdFor(jobId: string): string {
  return `msg_${jobId.replaceAll("-", "")}`;
}

export function signatureHeader(secrets: readonly string[], msgId: string, timestamp: Date, body: string): string {
  return secrets.map((secret) => new Webhook(secret).sign(msgId, timestamp, body)).join(" ");
}

export function webhookHeaders(secrets: readonly string[], msgId: string, timestamp: Date, body: string) {
  return {
    "content-type": "application/json",
    "user-agent": "typed-jobs-webhooks/1",
    "webhook-id": msgId,
    "webhook-timestamp": Math.floor(timestamp.getTime() / 1000).toString(),
    "webhook-signature": signatureHeader(secrets, msgId, timestamp, body),
  };
}
