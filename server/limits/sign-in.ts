/**
 * Failed password sign-ins, counted in Postgres (sign_in_failures) so every
 * server process sees the same counts; this module owns every statement on
 * that table. An attempt is recorded as a failure before its password is
 * checked (so concurrent attempts cannot slip past a limit) and a success
 * deletes its (account, address) pair's failures, its own included.
 */
import ipaddr from "ipaddr.js";
import type pg from "pg";
import { withTransaction } from "../db/pool.js";
import { RateLimitedError } from "./rate-limited.js";

export interface SignInLimit {
  name: string;
  max: number;
  windowMs: number;
  /** Which failures count, over $1 (account email) and $2 (client address). */
  where: string;
}

const MINUTE = 60_000;

/** Failed sign-ins allowed per window (issue 14): the first that is full refuses the attempt. */
export const SIGN_IN_LIMITS: readonly SignInLimit[] = [
  { name: "account and address", max: 5, windowMs: 15 * MINUTE, where: "email = $1 AND address = $2" },
  { name: "address", max: 50, windowMs: 15 * MINUTE, where: "address = $2" },
  { name: "account", max: 100, windowMs: 60 * MINUTE, where: "email = $1" },
];

/** No limit looks further back: older rows are deleted. */
const LONGEST_WINDOW_MS = Math.max(...SIGN_IN_LIMITS.map((l) => l.windowMs));
/** Expired rows deleted per attempt: more than an attempt adds, so the table stays bounded. */
const PRUNE_BATCH = 100;

export interface SignInKey {
  email: string;
  address: string;
}

/**
 * The key failures are counted under: the email as accounts store it, and the
 * address in one spelling (::ffff:a.b.c.d is a.b.c.d). An IPv6 client counts
 * by its /64: one host is normally handed a whole /64, and could otherwise
 * take a fresh address for every five attempts.
 */
export function signInKey(email: string, address: string | undefined): SignInKey {
  let normalized = address ?? "unknown";
  if (ipaddr.isValid(normalized)) {
    const parsed = ipaddr.process(normalized);
    normalized =
      parsed.kind() === "ipv6"
        ? `${ipaddr.IPv6.networkAddressFromCIDR(`${parsed.toString()}/64`).toString()}/64`
        : parsed.toString();
  }
  return { email: email.trim().toLowerCase(), address: normalized };
}

/**
 * For each limit, how long until it has room again (ms; null when it has room
 * now): when the failure that fills it leaves its window.
 */
const WAITS_SQL = `SELECT ${SIGN_IN_LIMITS.map(
  (limit, i) => `(SELECT extract(epoch FROM at - now()) * 1000 + ${limit.windowMs}
      FROM sign_in_failures
     WHERE ${limit.where} AND at > now() - interval '${limit.windowMs} milliseconds'
     ORDER BY at DESC OFFSET ${limit.max - 1} LIMIT 1)::float8 AS wait${i}`,
).join(",\n       ")}`;

/** Two lock spaces (account: 1, address: 2; the two-key form shares nothing with one-key locks), always taken in that order, so no two attempts deadlock. */
const LOCK_SQL = "SELECT pg_advisory_xact_lock(1, hashtext($1)), pg_advisory_xact_lock(2, hashtext($2))";

/**
 * Records an attempt as a failure, or throws RateLimitedError when a limit is
 * full. Returns the attempt's id, for `withdrawSignInAttempt`.
 */
export async function reserveSignInAttempt(pool: pg.Pool, key: SignInKey): Promise<string> {
  return withTransaction(pool, async (client) => {
    await client.query(LOCK_SQL, [key.email, key.address]);
    const { rows } = await client.query<Record<string, number | null>>(WAITS_SQL, [key.email, key.address]);
    const waits = Object.values(rows[0] ?? {}).filter((w): w is number => w !== null);
    if (waits.length > 0) {
      const retryAfterMs = Math.max(1, Math.ceil(Math.max(...waits)));
      throw new RateLimitedError(
        `Too many sign-in attempts: try again in ${Math.ceil(retryAfterMs / MINUTE)} min`,
        retryAfterMs,
      );
    }
    const inserted = await client.query<{ id: string }>(
      "INSERT INTO sign_in_failures (email, address) VALUES ($1, $2) RETURNING id::text AS id",
      [key.email, key.address],
    );
    // SKIP LOCKED: attempts pruning at once neither wait for nor deadlock with each other.
    await client.query(
      `DELETE FROM sign_in_failures WHERE id IN (
         SELECT id FROM sign_in_failures WHERE at < now() - interval '${LONGEST_WINDOW_MS} milliseconds'
          ORDER BY at LIMIT ${PRUNE_BATCH} FOR UPDATE SKIP LOCKED)`,
    );
    return inserted.rows[0]?.id as string;
  });
}

/** Takes back an attempt that never checked a password (no derivation slot was free, or an error). */
export async function withdrawSignInAttempt(pool: pg.Pool, id: string): Promise<void> {
  await pool.query("DELETE FROM sign_in_failures WHERE id = $1", [id]);
}

/** A successful sign-in: its (account, address) pair starts afresh. */
export async function forgiveSignInPair(pool: pg.Pool, key: SignInKey): Promise<void> {
  await pool.query("DELETE FROM sign_in_failures WHERE email = $1 AND address = $2", [key.email, key.address]);
}
