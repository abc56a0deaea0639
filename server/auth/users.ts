/** Users with passwords, for the browser sign-in. */
import type pg from "pg";
import { DEFAULT_PASSWORD_HASH_N } from "../config.js";
import type { Db } from "../db/pool.js";
import { RateLimitedError } from "../limits/rate-limited.js";
import { forgiveSignInPair, reserveSignInAttempt, signInKey, withdrawSignInAttempt } from "../limits/sign-in.js";
import { derivations, hashPassword, hashPasswordInSlot, verifyPasswordInSlot } from "./passwords.js";
import type { AuthUser, Role } from "./tokens.js";

/** How soon to retry when every derivation slot is busy. */
export const BUSY_RETRY_AFTER_MS = 1_000;

/**
 * Creates the user or resets their password and role (used by the dev seed and
 * tests). `hashN` is PASSWORD_HASH_N; a hash made with another N is redone at
 * the user's next sign-in.
 */
export async function upsertUserWithPassword(
  db: Db,
  email: string,
  password: string,
  role: Role,
  hashN = DEFAULT_PASSWORD_HASH_N,
): Promise<AuthUser> {
  const normalized = email.trim().toLowerCase();
  const passwordHash = await hashPassword(password, hashN);
  const user = await db.user.upsert({
    where: { email: normalized },
    create: { email: normalized, role, passwordHash },
    update: { role, passwordHash },
  });
  return { id: user.id, email: user.email, role };
}

export interface SignInServices {
  db: Db;
  pool: pg.Pool;
  config: { PASSWORD_HASH_N: number };
}

/**
 * The user whose password matches, or null: the same answer, after one
 * derivation, for an unknown email, an account without a password and a
 * wrong password. Throws RateLimitedError, before any derivation, when the
 * failed-attempt limits (server/limits/sign-in.ts) are full or every
 * derivation slot is busy. A match made with older parameters is hashed again.
 */
export async function signInWithPassword(
  services: SignInServices,
  email: string,
  password: string,
  clientAddress: string | undefined,
): Promise<AuthUser | null> {
  const { db, pool, config } = services;
  const key = signInKey(email, clientAddress);
  // The derivation slot first: with both busy the answer is 429 at once, and
  // at most two sign-ins per process reach the database, so a flood of
  // sign-ins (on one account's lock, say) cannot take the pool from everyone else.
  const release = derivations.tryAcquire();
  if (!release) {
    throw new RateLimitedError("Too many sign-ins at once: try again in a moment", BUSY_RETRY_AFTER_MS);
  }
  let user: Awaited<ReturnType<typeof db.user.findUnique>>;
  let valid: boolean;
  let rehashed: string | undefined;
  try {
    const attempt = await reserveSignInAttempt(pool, key);
    try {
      user = await db.user.findUnique({ where: { email: key.email } });
    } catch (error) {
      // An attempt that never got its password checked is not a failure.
      await withdrawSignInAttempt(pool, attempt).catch(() => {});
      throw error;
    }
    const verification = await verifyPasswordInSlot(password, user?.passwordHash ?? null, config.PASSWORD_HASH_N);
    valid = verification.valid && user !== null;
    if (valid && verification.stale) rehashed = await hashPasswordInSlot(password, config.PASSWORD_HASH_N);
  } finally {
    release();
  }
  if (!user || !valid) return null; // the attempt stays recorded as a failure
  await forgiveSignInPair(pool, key);
  if (rehashed) {
    // Unless the password changed meanwhile.
    await db.user.updateMany({
      where: { id: user.id, passwordHash: user.passwordHash },
      data: { passwordHash: rehashed },
    });
  }
  return { id: user.id, email: user.email, role: user.role === "admin" ? "admin" : "user" };
}
