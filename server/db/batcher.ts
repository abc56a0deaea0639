/**
 * Group commit for hot writes: requests that arrive while a batch is in flight
 * queue up and go together in the next one, so a busy process pays one round
 * trip and one commit (one WAL flush, the scarce resource) per batch rather
 * than per request. Under light load a batch is a single request and costs
 * what the unbatched write did. Used by the worker's state writes
 * (lifecycle/batched-writes.ts) and by enqueue (lifecycle/enqueue.ts).
 */

export interface BatcherOptions {
  /**
   * Batches in flight at once. A second slot lets a batch start while the
   * previous one waits for its commit, and Postgres flushes both together.
   */
  slots?: number;
  /** Upper bound on one batch's requests (parameter arrays stay small). */
  maxBatch?: number;
  /**
   * When a batch of several fails with an error this accepts, each of its
   * requests runs again alone, so a request the database refuses fails only
   * its own caller. Without it (or when it says no), the whole batch fails.
   */
  retryAlone?: (error: unknown) => boolean;
}

/**
 * Collects requests and runs them in batches. `run` answers each request in
 * order; a failed batch fails all its requests, unless `retryAlone` says to
 * run them one by one.
 */
export class Batcher<In, Out> {
  private queue: { input: In; resolve: (out: Out) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;
  private scheduled = false;
  private readonly slots: number;
  private readonly maxBatch: number;
  private readonly retryAlone: (error: unknown) => boolean;

  constructor(
    private readonly run: (inputs: In[]) => Promise<Out[]>,
    options: BatcherOptions = {},
  ) {
    this.slots = options.slots ?? 1;
    this.maxBatch = options.maxBatch ?? 500;
    this.retryAlone = options.retryAlone ?? (() => false);
  }

  submit(input: In): Promise<Out> {
    return new Promise<Out>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.scheduled && this.inFlight < this.slots) {
        this.scheduled = true;
        // Let the requests of this tick (a local queue hands out several jobs at once) join the batch.
        setImmediate(() => {
          this.scheduled = false;
          this.flush();
        });
      }
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.slots) {
      const batch = this.queue.splice(0, this.maxBatch);
      this.inFlight += 1;
      this.run(batch.map((request) => request.input))
        .then(
          (outputs) => {
            for (const [i, request] of batch.entries()) request.resolve(outputs[i] as Out);
          },
          async (error: unknown) => {
            if (batch.length === 1 || !this.retryAlone(error)) {
              for (const request of batch) request.reject(error);
              return;
            }
            await Promise.all(
              batch.map((request) =>
                this.run([request.input]).then(([out]) => request.resolve(out as Out), request.reject),
              ),
            );
          },
        )
        .finally(() => {
          this.inFlight -= 1;
          this.flush();
        });
    }
  }
}
