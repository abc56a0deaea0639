/**
 * server/webhooks/ (services; this is its main file) owns outgoing webhooks: endpoints and secrets (here),
 * signing, the SSRF guard, the pinned HTTP client and its deadline, and verify.ts for receivers. Must not: import
 * anything above the services layer, or write job state; the delivery job type is server/tasks/webhook.ts.
 *
 * Webhook endpoints: each belongs to one user; secrets are shown once, at creation and rotation.
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import { ownerScope } from "../auth/scope.js";
import type { AuthUser } from "../auth/tokens.js";
import type { Db } from "../db/pool.js";
import { DeliveryTimeoutError, deliveryDeadline } from "./deadline.js";
import { newSecret } from "./signing.js";
import { type CheckedTarget, checkTarget, type Resolver, UnresolvedHostError } from "./ssrf.js";

export class EndpointNotFoundError extends Error {
  constructor(id: string) {
    super(`Webhook endpoint ${id} not found`);
    this.name = "EndpointNotFoundError";
  }
}

/**
 * Rotating a secret shows the new secret to whoever rotates it, so only the
 * endpoint's owner may: an admin rotating another user's endpoint would learn
 * the secret that signs that user's deliveries.
 */
export class SecretRotationForbiddenError extends Error {
  constructor(id: string) {
    super(`Only the owner of webhook endpoint ${id} can rotate its secret`);
    this.name = "SecretRotationForbiddenError";
  }
}

export interface NetworkPolicy {
  allowLoopback: boolean;
  resolve: Resolver;
  /** WEBHOOK_TIMEOUT_MS: a lookup slower than this counts as not resolving. */
  timeoutMs: number;
}

export function toEndpointView(e: {
  id: string;
  url: string;
  description: string | null;
  disabledAt: Date | null;
  createdAt: Date;
  previousSecretExpiresAt: Date | null;
}) {
  return {
    id: e.id,
    url: e.url,
    description: e.description,
    disabled: e.disabledAt !== null,
    disabledAt: e.disabledAt,
    createdAt: e.createdAt,
    /** While set and in the future, deliveries are signed with the old and the new secret. */
    previousSecretExpiresAt: e.previousSecretExpiresAt,
  };
}

export async function createEndpoint(
  db: Db,
  user: AuthUser,
  input: { url: string; description?: string | undefined },
  network: NetworkPolicy,
): Promise<{ id: string; secret: string; target: CheckedTarget }> {
  const deadline = deliveryDeadline(network.timeoutMs);
  let target: CheckedTarget;
  try {
    target = await checkTarget(input.url, { ...network, signal: deadline.signal });
  } catch (error) {
    if (error instanceof DeliveryTimeoutError) throw new UnresolvedHostError(new URL(input.url).hostname, error);
    throw error;
  } finally {
    deadline.clear();
  }
  const secret = newSecret();
  const endpoint = await db.webhookEndpoint.create({
    data: {
      id: randomUUID(),
      ownerId: user.id,
      url: target.url.toString(),
      description: input.description ?? null,
      secret,
    },
  });
  return { id: endpoint.id, secret, target };
}

export async function findEndpoint(db: Db, user: AuthUser, id: string) {
  const endpoint = await db.webhookEndpoint.findFirst({ where: { id, ownerId: ownerScope(user) } });
  if (!endpoint) throw new EndpointNotFoundError(id);
  return endpoint;
}

/** Owner only, admins included (see SecretRotationForbiddenError); changes nothing otherwise. */
export async function rotateSecret(db: Db, user: AuthUser, id: string, graceHours: number): Promise<string> {
  const endpoint = await findEndpoint(db, user, id);
  if (endpoint.ownerId !== user.id) throw new SecretRotationForbiddenError(id);
  const secret = newSecret();
  await db.webhookEndpoint.update({
    where: { id: endpoint.id },
    data: {
      secret,
      previousSecret: endpoint.secret,
      previousSecretExpiresAt: new Date(Date.now() + graceHours * 3600_000),
    },
  });
  return secret;
}

/** What a delivery needs of its endpoint. */
export interface DeliveryEndpoint {
  id: string;
  url: string;
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
  disabledAt: Date | null;
}

/**
 * The endpoint a job delivers to, if it still exists and belongs to the job's
 * owner: one query (a delivery runs it for every attempt).
 */
export async function endpointForJob(
  pool: Pick<pg.Pool, "query">,
  jobId: string,
  endpointId: string,
): Promise<DeliveryEndpoint | undefined> {
  const { rows } = await pool.query<DeliveryEndpoint>({
    name: "typed_jobs_endpoint_for_job",
    text: `SELECT e.id, e.url, e.secret, e.previous_secret AS "previousSecret",
                  e.previous_secret_expires_at AS "previousSecretExpiresAt", e.disabled_at AS "disabledAt"
             FROM jobs j JOIN webhook_endpoints e ON e.owner_id = j.owner_id
            WHERE j.id = $1 AND e.id = $2`,
    values: [jobId, endpointId],
  });
  return rows[0];
}

/** The secrets that sign a delivery now: the current one, and the previous one during its grace period. */
export function signingSecrets(endpoint: {
  secret: string;
  previousSecret: string | null;
  previousSecretExpiresAt: Date | null;
}): string[] {
  const previousValid =
    endpoint.previousSecret && endpoint.previousSecretExpiresAt && endpoint.previousSecretExpiresAt > new Date();
  return previousValid ? [endpoint.secret, endpoint.previousSecret as string] : [endpoint.secret];
}
