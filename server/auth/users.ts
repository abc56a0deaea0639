/** Users with passwords, for the browser sign-in. */
import type { Db } from "../db/pool.js";
import { hashPassword, verifyPassword } from "./passwords.js";
import type { AuthUser, Role } from "./tokens.js";

/** Creates the user or resets their password and role (used by the dev seed and tests). */
export async function upsertUserWithPassword(db: Db, email: string, password: string, role: Role): Promise<AuthUser> {
  const normalized = email.trim().toLowerCase();
  const passwordHash = await hashPassword(password);
  const user = await db.user.upsert({
    where: { email: normalized },
    create: { email: normalized, role, passwordHash },
    update: { role, passwordHash },
  });
  return { id: user.id, email: user.email, role };
}

/** The user whose password matches, or null; the same answer for an unknown email and a wrong password. */
export async function checkCredentials(db: Db, email: string, password: string): Promise<AuthUser | null> {
  const user = await db.user.findUnique({ where: { email: email.trim().toLowerCase() } });
  const valid = await verifyPassword(password, user?.passwordHash ?? null);
  if (!user || !valid) return null;
  return { id: user.id, email: user.email, role: user.role === "admin" ? "admin" : "user" };
}
