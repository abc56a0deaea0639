/**
 * Request context. `createContextInner` takes what a request resolves to, so
 * tests call procedures through createCaller without HTTP.
 */
import { TRPCError } from "@trpc/server";
import type pg from "pg";
import { type AuthUser, authenticate, sessionCookie, type TokenCache, tokenFromHeaders } from "../auth/tokens.js";
import type { Config } from "../config.js";
import type { Db } from "../db/pool.js";
import { isDatabaseUnavailable } from "../db/unavailable.js";
import type { EventHub } from "../jobs/event-hub.js";
import type { Logger } from "../logger.js";
import { type MutationRequest, type Refusal, refuseCrossSiteMutation } from "../security/cross-site.js";
import type { Network } from "../webhooks/network.js";

/** Long-lived services, built once per process. */
export interface AppServices {
  db: Db;
  pool: pg.Pool;
  hub: EventHub;
  config: Config;
  logger: Logger;
  network: Network;
  /** Token -> user lookups, shared by tRPC and REST so a sign-out here is seen at once. */
  tokenCache: TokenCache;
}

export interface Context extends AppServices {
  user: AuthUser | null;
  /** The credential this request carried, so sign-out can revoke it. */
  token: string | undefined;
  /** Sets the session cookie on the response (a no-op without HTTP). */
  setSessionCookie: (token: string | undefined) => void;
  /** Why a mutation from this request must not run (a cross-site request); checked in trpc.ts. */
  mutationRefusal: Refusal | undefined;
  /** The client's address as Express sees it (req.ip: X-Forwarded-For only from a trusted proxy). */
  clientAddress: string | undefined;
}

export function createContextInner(
  services: AppServices,
  user: AuthUser | null,
  request: Partial<Pick<Context, "token" | "setSessionCookie" | "mutationRefusal" | "clientAddress">> = {},
): Context {
  return {
    ...services,
    user,
    token: request.token,
    setSessionCookie: request.setSessionCookie ?? (() => {}),
    mutationRefusal: request.mutationRefusal,
    clientAddress: request.clientAddress,
  };
}

export async function createRequestContext(
  services: AppServices,
  req: MutationRequest & { secure?: boolean; ip?: string | undefined },
  res: { appendHeader: (name: string, value: string) => unknown },
): Promise<Context> {
  const token = tokenFromHeaders(req.headers);
  const user = await authenticate(services.db, token, services.tokenCache).catch((error: unknown) => {
    if (isDatabaseUnavailable(error)) {
      throw new TRPCError({
        code: "SERVICE_UNAVAILABLE",
        message: "The database is unavailable; try again",
        cause: error,
      });
    }
    throw error;
  });
  return createContextInner(services, user, {
    token,
    mutationRefusal: refuseCrossSiteMutation(req, {
      publicUrl: services.config.PUBLIC_URL,
      development: services.config.NODE_ENV === "development",
    }),
    clientAddress: req.ip,
    setSessionCookie: (value) => {
      res.appendHeader("Set-Cookie", sessionCookie(value, req.secure === true));
    },
  });
}
