/**
 * The one error every limit throws (enqueue and email buckets, sign-in
 * attempts, event streams). tRPC answers it TOO_MANY_REQUESTS with
 * `error.data.retryAfterMs`; HTTP answers 429 with `Retry-After: <seconds>`
 * when every call in the request was limited (server/http/trpc.ts, server/app.ts).
 */
export class RateLimitedError extends Error {
  constructor(
    message: string,
    /** How long until a retry can succeed, in milliseconds. */
    readonly retryAfterMs: number,
  ) {
    super(message);
    this.name = "RateLimitedError";
  }
}

/** The RateLimitedError behind an error (thrown directly, or wrapped by tRPC), if any. */
export function rateLimitOf(error: unknown): RateLimitedError | undefined {
  for (let current = error, depth = 0; current && depth < 5; depth++) {
    if (current instanceof RateLimitedError) return current;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Retry-After in whole seconds (at least 1), for a set of limited calls: the longest wait. */
export function retryAfterSeconds(errors: unknown[]): number | undefined {
  const waits = errors.map((e) => rateLimitOf(e)?.retryAfterMs);
  if (waits.length === 0 || waits.some((w) => w === undefined)) return undefined;
  return Math.max(1, Math.ceil(Math.max(...(waits as number[])) / 1000));
}
