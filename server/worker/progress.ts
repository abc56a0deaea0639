/**
 * A running attempt's progress reports: checked against the job type's
 * schema, then written at most every PROGRESS_INTERVAL_MS (the latest report
 * wins), in order, in this process's batches of writes. A write that finds
 * the attempt stale (the job moved on) aborts the handler with StaleAttemptError.
 */
import type pg from "pg";
import type { z } from "zod";
import { recordProgress } from "../lifecycle/attempts.js";
import type { Logger } from "../logger.js";
import { type Attempt, StaleAttemptError } from "./attempt.js";

const PROGRESS_INTERVAL_MS = 250;

export class ProgressWriter {
  private writes = Promise.resolve();
  private lastWriteAt = 0;
  private pending: Record<string, unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly attempt: Attempt,
    private readonly fence: string,
    private readonly schema: z.ZodType,
    private readonly log: Logger,
  ) {}

  /** The handler's `progress` callback. */
  readonly report = (report: unknown): void => {
    const parsed = this.schema.safeParse(report);
    if (!parsed.success) {
      this.log.warn({ issues: parsed.error.issues }, "progress report does not match the schema; dropped");
      return;
    }
    this.pending = parsed.data as Record<string, unknown>;
    if (this.timer) return;
    const wait = Math.max(0, this.lastWriteAt + PROGRESS_INTERVAL_MS - Date.now());
    if (wait === 0) this.write();
    else this.timer = setTimeout(() => this.write(), wait);
  };

  /**
   * Stops the timer, waits for the writes in flight, and hands back the
   * report not yet written: it goes with the outcome (a success writes it in
   * its own statement), so events stay in order.
   */
  async takeLast(): Promise<Record<string, unknown> | undefined> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.writes;
    const last = this.pending;
    this.pending = undefined;
    return last;
  }

  /** Writes `report` now and waits for it (a failure's last report, before the failure is recorded). */
  async writeNow(report: Record<string, unknown>): Promise<void> {
    this.pending = report;
    this.write();
    await this.writes;
  }

  private write(): void {
    const report = this.pending;
    this.pending = undefined;
    this.timer = undefined;
    if (!report) return;
    this.lastWriteAt = Date.now();
    const { jobId } = this.attempt;
    this.writes = this.writes
      .then(() => recordProgress(this.pool, jobId, this.fence, report))
      .then((current) => {
        if (!current) this.attempt.abort(new StaleAttemptError());
      })
      .catch((error: Error) => this.log.warn({ err: error.message }, "progress not saved"));
  }
}
