/**
 * Crash recovery in seconds: every worker process registers and heartbeats
 * (HEARTBEAT_INTERVAL_MS, 5 s by default); each also sweeps for processes
 * silent past HEARTBEAT_TIMEOUT_MS (30 s). A swept process's running attempts
 * are recorded as crashed (retried at once, or failed with reason `crashed`
 * on the last attempt) and its graphile-worker locks released with
 * force_unlock_workers, instead of graphile-worker's 4-hour lock timeout.
 *
 * Only processes that are really silent are swept. One whose event loop
 * merely stalls past the threshold can lose its jobs, but never corrupt them:
 * its late writes carry a stale fencing token and are rejected.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import type pg from "pg";
import type { Logger } from "../logger.js";
import { recordCrashedAttempt } from "./run-attempt.js";

export interface HeartbeatOptions {
  intervalMs: number;
  timeoutMs: number;
}

export class Heartbeat {
  readonly processId = randomUUID();
  private readonly graphileWorkerIds = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly logger: Logger,
    private readonly options: HeartbeatOptions,
  ) {}

  addGraphileWorker(workerId: string): void {
    this.graphileWorkerIds.add(workerId);
  }

  /** Forgets the current graphile ids (their pool died) and returns them, to unlock. */
  takeGraphileWorkerIds(): string[] {
    const ids = [...this.graphileWorkerIds];
    this.graphileWorkerIds.clear();
    return ids;
  }

  async start(): Promise<void> {
    await this.pool.query(
      `INSERT INTO worker_processes (id, hostname, pid, graphile_worker_ids) VALUES ($1, $2, $3, $4)`,
      [this.processId, os.hostname(), process.pid, [...this.graphileWorkerIds]],
    );
    this.timer = setInterval(() => {
      this.beating ??= this.beat().finally(() => {
        this.beating = undefined;
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  /** Stops heartbeating but stays registered: once silent, a sweep recovers this process's attempts. */
  pause(): void {
    clearInterval(this.timer);
  }

  /** Stops heartbeating and deregisters (a clean shutdown leaves nothing to sweep). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
    await this.pool.query("DELETE FROM worker_processes WHERE id = $1", [this.processId]).catch(() => {});
  }

  private async beat(): Promise<void> {
    try {
      const { rowCount } = await this.pool.query(
        `UPDATE worker_processes SET last_heartbeat_at = now(), graphile_worker_ids = $2 WHERE id = $1`,
        [this.processId, [...this.graphileWorkerIds]],
      );
      if (!rowCount) {
        // We were swept (a long stall): register again; our old attempts are already recovered.
        this.logger.warn({ processId: this.processId }, "this worker was swept as dead; registering again");
        await this.pool.query(
          `INSERT INTO worker_processes (id, hostname, pid, graphile_worker_ids) VALUES ($1, $2, $3, $4)
           ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now()`,
          [this.processId, os.hostname(), process.pid, [...this.graphileWorkerIds]],
        );
      }
      await this.sweep();
    } catch (error) {
      this.logger.warn({ err: (error as Error).message }, "heartbeat failed; will retry");
    }
  }

  /** Claims the silent processes (each by exactly one sweeper) and recovers their attempts. */
  async sweep(): Promise<number> {
    const { rows: dead } = await this.pool.query<{ id: string; graphile_worker_ids: string[] }>(
      `DELETE FROM worker_processes
        WHERE last_heartbeat_at < now() - make_interval(secs => $1::float8 / 1000) AND id <> $2
        RETURNING id, graphile_worker_ids`,
      [this.options.timeoutMs, this.processId],
    );
    let recovered = 0;
    for (const process of dead) {
      const { rows: jobs } = await this.pool.query<{ id: string }>(
        "SELECT id FROM jobs WHERE status = 'running' AND worker_process_id = $1",
        [process.id],
      );
      for (const job of jobs) {
        const row = await recordCrashedAttempt({ pool: this.pool }, job.id, { requeue: true });
        if (row) recovered += 1;
        this.logger.warn(
          { jobId: job.id, state: row?.status, deadProcess: process.id },
          "attempt of a dead worker recorded as crashed",
        );
      }
      if (process.graphile_worker_ids.length > 0) {
        await this.pool.query("SELECT graphile_worker.force_unlock_workers($1::text[])", [process.graphile_worker_ids]);
      }
      this.logger.warn({ deadProcess: process.id, jobs: jobs.length }, "swept a dead worker process");
    }
    return recovered;
  }
}
