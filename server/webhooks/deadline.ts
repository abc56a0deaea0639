/**
 * The time limit of one webhook delivery (WEBHOOK_TIMEOUT_MS): a single signal
 * that covers the DNS lookup, the connection, the request and reading the
 * response excerpt, and that also fires when the job's own signal does.
 */

/** A delivery ran out of time; retried like any other timeout. Its message is the whole story. */
export class DeliveryTimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`timed out after ${ms} ms`);
    this.name = "DeliveryTimeoutError";
  }
}

export interface Deadline {
  /** Aborts with a DeliveryTimeoutError, or with the job signal's reason. */
  signal: AbortSignal;
  /** Stops the timer and detaches from the job's signal. */
  clear: () => void;
}

export function deliveryDeadline(ms: number, parent?: AbortSignal): Deadline {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DeliveryTimeoutError(ms)), ms);
  const onParentAbort = () => controller.abort(parent?.reason);
  if (parent?.aborted) onParentAbort();
  else parent?.addEventListener("abort", onParentAbort, { once: true });
  return {
    signal: controller.signal,
    clear: () => {
      clearTimeout(timer);
      parent?.removeEventListener("abort", onParentAbort);
    },
  };
}

/**
 * Settles with `work`, or rejects with the signal's reason when it aborts
 * first. Work that cannot be cancelled (a getaddrinfo call) runs on, unheard.
 */
export function untilAborted<T>(work: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return work;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}
