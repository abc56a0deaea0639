/**
 * Cancelling a running job reaches the process that runs it through Postgres:
 * jobs.cancel commits `running -> cancelled` and NOTIFYs typed_jobs_cancel
 * with the job id; every worker process LISTENs and aborts that job's handler
 * if it runs it. A missed notification is covered by the fence: the attempt's
 * next progress or outcome write finds the job cancelled and stops.
 */
import pg from "pg";
import { CANCEL_CHANNEL } from "../db/schema.js";
import type { Logger } from "../logger.js";
import { type AttemptTable, CancelledError } from "./attempt.js";

export class CancellationListener {
  private client: pg.Client | undefined;
  private stopped = false;

  constructor(
    private readonly connectionString: string,
    private readonly attempts: AttemptTable,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on("notification", (message) => {
      if (message.payload && this.attempts.abort(message.payload, new CancelledError())) {
        this.logger.info({ jobId: message.payload, state: "cancelled" }, "cancelling the running attempt");
      }
    });
    client.on("error", (error) => {
      this.logger.warn({ err: error.message }, "cancellation listener lost its connection; reconnecting");
      void client.end().catch(() => {});
      this.retry();
    });
    await client.connect();
    await client.query(`LISTEN ${CANCEL_CHANNEL}`);
    this.client = client;
  }

  private retry(delay = 500): void {
    if (this.stopped) return;
    setTimeout(() => {
      this.start().catch(() => this.retry(Math.min(delay * 2, 10_000)));
    }, delay).unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.client?.end().catch(() => {});
  }
}
