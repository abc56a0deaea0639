/**
 * Which errors mean "the database cannot be reached right now" (so: 503, or
 * wait and retry), and the retry loop built on that.
 */

/**
 * A statement had no answer within its bound (DB_QUERY_TIMEOUT_MS, or its
 * own): its connection was destroyed, so the pool never hands it out again.
 * Thrown by the pool's clients (server/db/pool.ts).
 */
export class QueryTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`Query timed out after ${timeoutMs} ms without an answer; its connection was closed`);
    this.name = "QueryTimeoutError";
  }
}

/** Whether an error means "the database cannot be reached right now" (so: 503, retry later). */
const CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "57P01",
  "57P02",
  "57P03",
  "08006",
  "08001",
]);
// The query-timeout messages match too because Prisma passes the error on
// rewrapped; "not queryable" is the next statement on a connection already lost.
const MESSAGES =
  /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|the database system is (starting up|shutting down)|Can't reach database|Query timed out after \d+ ms without an answer|encountered a connection error and is not queryable/i;

export function isDatabaseUnavailable(error: unknown, depth = 0): boolean {
  if (!error || typeof error !== "object" || depth > 5) return false;
  if (error instanceof QueryTimeoutError) return true;
  const { code, message, cause } = error as { code?: unknown; message?: unknown; cause?: unknown };
  if (typeof code === "string" && CODES.has(code)) return true;
  if (typeof message === "string" && MESSAGES.test(message)) return true;
  return isDatabaseUnavailable(cause, depth + 1);
}

/**
 * Postgres class 22 (data exception): a value the database cannot store, and
 * would refuse again. Raw pg errors carry the SQLSTATE as `code`; Prisma
 * carries it in `meta.driverAdapterError.cause.code` (its own `code` is P2xxx).
 */
export function isDataException(error: unknown): boolean {
  const viaPrisma = (error as { meta?: { driverAdapterError?: { cause?: { code?: unknown } } } } | null | undefined)
    ?.meta?.driverAdapterError?.cause?.code;
  const code = viaPrisma ?? (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" && code.startsWith("22");
}

/**
 * Runs `fn` again while the database is unreachable (waiting 0.5 s, doubling
 * to 5 s), so a worker that loses Postgres mid-attempt records the outcome
 * once it is back instead of dropping it. Any other error is thrown at once.
 * Safe only for idempotent writes, as every guarded transition is.
 */
export async function retryWhileUnavailable<T>(fn: () => Promise<T>, onWait?: (error: unknown) => void): Promise<T> {
  let delay = 500;
  for (;;) {
    try {
      return await fn();
    } catch (error) {
      if (!isDatabaseUnavailable(error)) throw error;
      onWait?.(error);
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5_000);
    }
  }
}
