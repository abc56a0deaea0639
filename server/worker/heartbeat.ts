/**
 * Crash recovery in seconds: every worker process registers and heartbeats
 * (HEARTBEAT_INTERVAL_MS, 5 s by default); each also sweeps for processes
 * silent past HEARTBEAT_TIMEOUT_MS (30 s). A swept process's running attempts
 * are recorded as crashed (retried at once, or failed with reason `crashed`
 * on the last attempt) and its graphile-worker locks released with
 * force_unlock_workers, instead of graphile-worker's 4-hour lock timeout.
 *
 * Only processes that are really silent are swept: a sweeper counts a
 * process's silence only from when it has itself heartbeated steadily (no
 * failed heartbeat, no gap of half the threshold). After a database outage
 * (or a pause of the whole machine), every row is old, and the first process
 * back must not take the others, about to heartbeat again, for dead. One
 * whose event loop merely stalls past the threshold can lose its jobs, but
 * never corrupt them: its late writes carry a stale fencing token and are
 * rejected.
 *
 * A sweeper claims a dead process by stamping its row, so no other sweeper
 * takes it for a threshold, recovers its attempts, then deletes the row. If
 * the recovery fails partway, the row stays, and a sweep takes it again once
 * the threshold has passed.
 */
import { randomUUID } from "node:crypto";
import os from "node:os";
import type pg from "pg";
import { recordCrashedAttempt } from "../lifecycle/attempts.js";
import type { Logger } from "../logger.js";

export interface HeartbeatOptions {
  intervalMs: number;
  timeoutMs: number;
}

export class Heartbeat {
  readonly processId = randomUUID();
  private readonly graphileWorkerIds = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** When this process last heartbeated (monotonic clock); -Infinity after a failed heartbeat. */
  private lastBeatAt = Number.NEGATIVE_INFINITY;
  /** The database's time since when this process has heartbeated steadily. */
  private healthySince: Date | undefined;

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
    await this.register();
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

  /** Registers this process (again, after a sweep took it for dead): healthy from now on. */
  private async register(): Promise<void> {
    const { rows } = await this.pool.query<{ at: Date }>(
      `INSERT INTO worker_processes (id, hostname, pid, graphile_worker_ids) VALUES ($1, $2, $3, $4)
       ON CONFLICT (id) DO UPDATE SET last_heartbeat_at = now()
       RETURNING last_heartbeat_at AS at`,
      [this.processId, os.hostname(), process.pid, [...this.graphileWorkerIds]],
    );
    this.beaten(rows[0]?.at, true);
  }

  /**
   * Records a heartbeat that landed at `at` (database time). After a failed
   * heartbeat, a gap of half the threshold, or with `afresh`, this process
   * counts as healthy only from now: others may have been kept silent too.
   */
  private beaten(at: Date | undefined, afresh: boolean): void {
    const now = performance.now();
    if (afresh || now - this.lastBeatAt >= this.options.timeoutMs / 2) this.healthySince = at;
    this.lastBeatAt = now;
  }

  private async beat(): Promise<void> {
    try {
      const { rows } = await this.pool.query<{ at: Date }>(
        `UPDATE worker_processes SET last_heartbeat_at = now(), graphile_worker_ids = $2 WHERE id = $1
         RETURNING last_heartbeat_at AS at`,
        [this.processId, [...this.graphileWorkerIds]],
      );
      if (rows.length > 0) this.beaten(rows[0]?.at, false);
      else {
        // We were swept (a long stall): register again; our old attempts are already recovered.
        this.logger.warn({ processId: this.processId }, "this worker was swept as dead; registering again");
        await this.register();
      }
    } catch (error) {
      this.lastBeatAt = Number.NEGATIVE_INFINITY;
      this.logger.warn({ err: (error as Error).message }, "heartbeat failed; will retry");
      return;
    }
    await this.sweep().catch((error: Error) => this.logger.warn({ err: error.message }, "sweep failed; will retry"));
  }

  /**
   * Claims the processes silent past the threshold, recovers their attempts,
   * and deletes them. Silence is counted from when this process became
   * healthy, if that is later than their last beat. The claim stamps the row
   * (as a heartbeat would), so no other sweeper takes it for a threshold;
   * nothing is held open while the attempts are recovered.
   */
  async sweep(): Promise<number> {
    const { rows: dead } = await this.pool.query<{ id: string; graphile_worker_ids: string[]; claimed_at: Date }>(
      `UPDATE worker_processes SET last_heartbeat_at = now()
        WHERE id IN (SELECT id FROM worker_processes
                      WHERE greatest(last_heartbeat_at, $3::timestamptz) < now() - make_interval(secs => $1::float8 / 1000)
                        AND id <> $2
                        FOR UPDATE SKIP LOCKED)
        RETURNING id, graphile_worker_ids, last_heartbeat_at AS claimed_at`,
      [this.options.timeoutMs, this.processId, this.healthySince ?? null],
    );
    let recovered = 0;
    for (const process of dead) {
      const jobs = await recoverAttempts(this.pool, process.id, process.graphile_worker_ids);
      for (const job of jobs) {
        if (job.state) recovered += 1;
        this.logger.warn({ ...job, deadProcess: process.id }, "attempt of a dead worker recorded as crashed");
      }
      // Unless it came back meanwhile (its own heartbeat moved the stamp): then it registers afresh by itself.
      await this.pool.query("DELETE FROM worker_processes WHERE id = $1 AND last_heartbeat_at = $2", [
        process.id,
        process.claimed_at,
      ]);
      this.logger.warn({ deadProcess: process.id, jobs: jobs.length }, "swept a dead worker process");
    }
    return recovered;
  }
}

/**
 * Records the running attempts of worker process `processId` as crashed
 * (queued again, or failed on their last attempt), except those `keep` names
 * (attempts the process itself still holds), and releases the locks of its
 * graphile-worker ids. The heartbeat sweep uses it for a dead process, the
 * runner for its own replaced graphile pool.
 */
export async function recoverAttempts(
  pool: pg.Pool,
  processId: string,
  graphileWorkerIds: string[],
  keep: (jobId: string) => boolean = () => false,
): Promise<{ jobId: string; state: string | undefined }[]> {
  const { rows } = await pool.query<{ id: string }>(
    "SELECT id FROM jobs WHERE status = 'running' AND worker_process_id = $1",
    [processId],
  );
  const recovered: { jobId: string; state: string | undefined }[] = [];
  for (const { id } of rows) {
    if (keep(id)) continue;
    const row = await recordCrashedAttempt(pool, id, { requeue: true });
    recovered.push({ jobId: id, state: row?.status });
  }
  if (graphileWorkerIds.length > 0) {
    await pool.query("SELECT graphile_worker.force_unlock_workers($1::text[])", [graphileWorkerIds]);
  }
  return recovered;
}
