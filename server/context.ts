/**
 * Request context. `createContextInner` takes what a request resolves to, so
 * tests call procedures through createCaller without HTTP.
 */
import type { IncomingHttpHeaders } from "node:http";
import type pg from "pg";
import { type AuthUser, authenticate, tokenFromHeaders } from "./auth/tokens.js";
import type { Config } from "./config.js";
import type { Db } from "./db/pool.js";
import type { EventHub } from "./jobs/event-hub.js";
import type { Logger } from "./logger.js";

/** Long-lived services, built once per process. */
export interface AppServices {
  db: Db;
  pool: pg.Pool;
  hub: EventHub;
  config: Config;
  logger: Logger;
}

export interface Context extends AppServices {
  user: AuthUser | null;
}

export function createContextInner(services: AppServices, user: AuthUser | null): Context {
  return { ...services, user };
}

export async function createRequestContext(services: AppServices, headers: IncomingHttpHeaders): Promise<Context> {
  const token = tokenFromHeaders({ authorization: headers.authorization, cookie: headers.cookie });
  return createContextInner(services, await authenticate(services.db, token));
}
