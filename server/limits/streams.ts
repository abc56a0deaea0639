/**
 * MAX_STREAMS_PER_USER: open jobs.events streams per user in one server
 * process. Both ways a stream is served (the hand-written SSE route and tRPC's
 * own subscription) take a slot from the same count when the stream opens and
 * give it back exactly once when it ends, however it ends (closed, aborted,
 * failed). Past the limit the stream ends with TOO_MANY_REQUESTS, sent as
 * tRPC sends a subscription's error (a `serialized-error` event), which
 * httpSubscriptionLink hands to the caller without retrying.
 */
import { TRPCError } from "@trpc/server";
import { RateLimitedError } from "./rate-limited.js";

/**
 * A refused stream's retryAfterMs. A slot frees when another of the user's
 * streams ends, which the server cannot foresee: a hint, not a promise.
 */
const STREAM_RETRY_AFTER_MS = 10_000;

/** A held slot; `release` gives it back (later calls do nothing). */
export interface StreamSlot {
  release: () => void;
}

export class StreamLimiter {
  private readonly open = new Map<string, number>();

  /** `max` streams per user; 0: no limit (still counted). */
  constructor(private readonly max: number) {}

  /** Takes a slot for `userId`, or throws TOO_MANY_REQUESTS (with retryAfterMs) when the user has `max` open. */
  acquire(userId: string): StreamSlot {
    const held = this.open.get(userId) ?? 0;
    if (this.max > 0 && held >= this.max) {
      const message = `Too many open event streams: at most ${this.max} per user`;
      throw new TRPCError({
        code: "TOO_MANY_REQUESTS",
        message,
        cause: new RateLimitedError(message, STREAM_RETRY_AFTER_MS),
      });
    }
    this.open.set(userId, held + 1);
    let released = false;
    return {
      release: () => {
        if (released) return;
        released = true;
        const left = (this.open.get(userId) ?? 1) - 1;
        if (left > 0) this.open.set(userId, left);
        else this.open.delete(userId);
      },
    };
  }

  /** Streams open for `userId`; with no argument, for everyone. */
  count(userId?: string): number {
    if (userId !== undefined) return this.open.get(userId) ?? 0;
    let total = 0;
    for (const held of this.open.values()) total += held;
    return total;
  }
}

/**
 * One count per event hub: a server process has one hub, and every stream it
 * serves, by either route, reads from it. (Tests run several apps, so several
 * hubs, in one process: each app keeps its own count.)
 */
const limiters = new WeakMap<object, StreamLimiter>();

export function streamLimiter(services: { hub: object; config: { MAX_STREAMS_PER_USER: number } }): StreamLimiter {
  let limiter = limiters.get(services.hub);
  if (!limiter) {
    limiter = new StreamLimiter(services.config.MAX_STREAMS_PER_USER);
    limiters.set(services.hub, limiter);
  }
  return limiter;
}
