/**
 * Errors a task throws to steer the wrapper. Anything else is transient and retried.
 */

/** A failure that no retry can fix (bad recipient, 4xx from a webhook target): fail now. */
export class PermanentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PermanentError";
  }
}

/**
 * Explicitly transient (the default for any other error). `retryAfterMs` asks
 * for the next attempt no sooner than that (an HTTP Retry-After, say).
 */
export class TransientError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options?: ErrorOptions & { retryAfterMs?: number | undefined }) {
    super(message, options);
    this.name = "TransientError";
    this.retryAfterMs = options?.retryAfterMs;
  }
}
