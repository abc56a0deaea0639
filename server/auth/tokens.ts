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

export async function authenticate(db: Db, token: string | undefined): Promise<AuthUser | null> {
  if (!token) return null;
  const found = await db.apiToken.findUnique({ where: { tokenHash: hashToken(token) }, include: { user: true } });
  if (!found) return null;
  const { id, email, role } = found.user;
  return { id, email, role: role === "admin" ? "admin" : "user" };
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
