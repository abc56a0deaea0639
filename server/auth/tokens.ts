/**
 * Bearer tokens: random, shown once, stored only as a SHA-256 hash. A request
 * carries one in `Authorization: Bearer <token>` or in the `tj_session` cookie.
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

/** Creates the user if needed (promoting to admin when asked) and issues a new token. */
export async function issueToken(db: Db, email: string, options: { admin?: boolean } = {}): Promise<string> {
  const normalized = email.trim().toLowerCase();
  const user = await db.user.upsert({
    where: { email: normalized },
    create: { email: normalized, role: options.admin ? "admin" : "user" },
    update: options.admin ? { role: "admin" } : {},
  });
  const token = `tj_${randomBytes(32).toString("base64url")}`;
  await db.apiToken.create({ data: { userId: user.id, tokenHash: hashToken(token) } });
  return token;
}

export const SESSION_TTL_MS = 30 * 24 * 3600 * 1000;

/** A browser session after a password sign-in: a token of kind "session" that expires. */
export async function issueSession(db: Db, userId: string): Promise<string> {
  const token = `tj_${randomBytes(32).toString("base64url")}`;
  await db.apiToken.create({
    data: { userId, tokenHash: hashToken(token), kind: "session", expiresAt: new Date(Date.now() + SESSION_TTL_MS) },
  });
  return token;
}

export async function revokeToken(db: Db, token: string): Promise<void> {
  await db.apiToken.deleteMany({ where: { tokenHash: hashToken(token) } });
}

/** The Set-Cookie value for a session (or, with no token, one that clears it). */
export function sessionCookie(token: string | undefined, secure: boolean): string {
  const attributes = ["Path=/", "HttpOnly", "SameSite=Lax", ...(secure ? ["Secure"] : [])];
  if (!token) return [`${SESSION_COOKIE}=`, "Max-Age=0", ...attributes].join("; ");
  return [`${SESSION_COOKIE}=${token}`, `Max-Age=${SESSION_TTL_MS / 1000}`, ...attributes].join("; ");
}

export async function authenticate(db: Db, token: string | undefined): Promise<AuthUser | null> {
  if (!token) return null;
  const found = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  if (!found) return null;
  if (found.expiresAt && found.expiresAt.getTime() <= Date.now()) return null;
  const { id, email, role } = found.user;
  return { id, email, role: role === "admin" ? "admin" : "user" };
}

/** The signed-in user a request's headers name, or null. */
export function userFromHeaders(
  db: Db,
  headers: { authorization?: string | undefined; cookie?: string | undefined },
): Promise<AuthUser | null> {
  return authenticate(db, tokenFromHeaders(headers));
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
