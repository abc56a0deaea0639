/**
 * server/auth/ (services) owns who the caller is: bearer tokens and sessions (here), passwords and users, and
 * the owner scope every scoped read and action applies (scope.ts). Must not: import anything above the
 * services layer (requests are read in server/http/), or write job state (that is server/lifecycle/).
 *
 * Bearer tokens: random, shown once, stored only as a SHA-256 hash. A request
 * carries one in `Authorization: Bearer <token>` or in the `tj_session` cookie.
 * A short-lived in-process cache spares each request a database round trip.
 */
import { createHash, randomBytes } from "node:crypto";
import type { Db } from "../db/pool.js";

export const SESSION_COOKIE = "tj_session";

export type Role = "user" | "admin";

export interface AuthUser {
  id: string;
  email: string;
  role: Role;
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/**
 * Creates the user if needed (promoting to admin when asked) and issues a new
 * token, which never expires unless `expiresAt` is given.
 */
export async function issueToken(
  db: Db,
  email: string,
  options: { admin?: boolean; expiresAt?: Date } = {},
): Promise<string> {
  const normalized = email.trim().toLowerCase();
  const user = await db.user.upsert({
    where: { email: normalized },
    create: { email: normalized, role: options.admin ? "admin" : "user" },
    update: options.admin ? { role: "admin" } : {},
  });
  const token = `tj_${randomBytes(32).toString("base64url")}`;
  await db.apiToken.create({
    data: { userId: user.id, tokenHash: hashToken(token), expiresAt: options.expiresAt ?? null },
  });
  return token;
}

export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;

/** "30d", "12h" or "45m" in milliseconds; undefined for anything else. */
export function parseTokenLifetime(text: string): number | undefined {
  const match = /^([1-9]\d{0,5})([dhm])$/.exec(text);
  if (!match) return undefined;
  const unit = { d: 24 * 3600_000, h: 3600_000, m: 60_000 }[match[2] as "d" | "h" | "m"];
  return Number(match[1]) * unit;
}

/** A browser session after a password sign-in: a token of kind "session" that expires. */
export async function issueSession(db: Db, userId: string): Promise<string> {
  const token = `tj_${randomBytes(32).toString("base64url")}`;
  await db.apiToken.create({
    data: { userId, tokenHash: hashToken(token), kind: "session", expiresAt: new Date(Date.now() + SESSION_TTL_MS) },
  });
  return token;
}

/** Deletes the token; with the process's cache, it is refused at once here too. */
export async function revokeToken(db: Db, token: string, cache?: TokenCache): Promise<void> {
  const tokenHash = hashToken(token);
  try {
    await db.apiToken.deleteMany({ where: { tokenHash } });
  } finally {
    // After the delete: a lookup that read the row before it is then not stored.
    cache?.forget(tokenHash);
  }
}

/** The Set-Cookie value for a session (or, with no token, one that clears it). */
export function sessionCookie(token: string | undefined, secure: boolean): string {
  const attributes = ["Path=/", "HttpOnly", "SameSite=Lax", ...(secure ? ["Secure"] : [])];
  if (!token) return [`${SESSION_COOKIE}=`, "Max-Age=0", ...attributes].join("; ");
  return [`${SESSION_COOKIE}=${token}`, `Max-Age=${SESSION_TTL_MS / 1000}`, ...attributes].join("; ");
}

/**
 * Token hash -> user for at most `ttlMs` (and never past a session's expiry),
 * so a busy client costs one lookup per TTL instead of one per request. Only
 * hits are kept: a token that does not exist is random garbage, and keeping
 * those would let it evict real entries. Revocation in this process forgets
 * the entry at once; a revocation or role change made by another process is
 * seen here within the TTL. `ttlMs` 0 disables the cache.
 */
export class TokenCache {
  readonly #entries = new Map<string, { user: AuthUser; until: number }>();
  /** Bumped by every forget, so a lookup that raced a revocation is not stored. */
  #generation = 0;

  constructor(
    readonly ttlMs: number,
    readonly maxEntries = 10_000,
  ) {}

  get generation(): number {
    return this.#generation;
  }

  get(tokenHash: string): AuthUser | undefined {
    const entry = this.#entries.get(tokenHash);
    if (!entry) return undefined;
    if (entry.until > Date.now()) return entry.user;
    this.#entries.delete(tokenHash);
    return undefined;
  }

  /** Stores a lookup made when the generation was `generation`, unless a forget came since. */
  set(tokenHash: string, user: AuthUser, expiresAt: Date | null, generation: number): void {
    if (this.ttlMs <= 0 || generation !== this.#generation) return;
    const until = Math.min(Date.now() + this.ttlMs, expiresAt?.getTime() ?? Number.POSITIVE_INFINITY);
    this.#entries.delete(tokenHash);
    this.#entries.set(tokenHash, { user, until });
    // A Map iterates in insertion order: the first key is the oldest entry.
    if (this.#entries.size > this.maxEntries) {
      const oldest = this.#entries.keys().next().value;
      if (oldest !== undefined) this.#entries.delete(oldest);
    }
  }

  forget(tokenHash: string): void {
    this.#generation += 1;
    this.#entries.delete(tokenHash);
  }
}

export async function authenticate(db: Db, token: string | undefined, cache?: TokenCache): Promise<AuthUser | null> {
  if (!token) return null;
  const tokenHash = hashToken(token);
  const cached = cache?.get(tokenHash);
  if (cached) return cached;
  const generation = cache?.generation ?? 0;
  const found = await db.apiToken.findUnique({ where: { tokenHash }, include: { user: true } });
  if (!found) return null;
  if (found.expiresAt && found.expiresAt.getTime() <= Date.now()) return null;
  const { id, email, role } = found.user;
  const user: AuthUser = { id, email, role: role === "admin" ? "admin" : "user" };
  cache?.set(tokenHash, user, found.expiresAt, generation);
  return user;
}

/** The signed-in user a request's headers name, or null. */
export function userFromHeaders(
  db: Db,
  headers: { authorization?: string | undefined; cookie?: string | undefined },
  cache?: TokenCache,
): Promise<AuthUser | null> {
  return authenticate(db, tokenFromHeaders(headers), cache);
}

/** The token from a request's headers: the Authorization header wins over the cookie. */
export function tokenFromHeaders(headers: { authorization?: string | undefined; cookie?: string | undefined }) {
  const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? "");
  if (bearer?.[1]) return bearer[1];
  for (const part of (headers.cookie ?? "").split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === SESSION_COOKIE && rest.length > 0) {
      try {
        return decodeURIComponent(rest.join("="));
      } catch {
        return undefined; // not percent-decodable: no token, so 401
      }
    }
  }
  return undefined;
}
