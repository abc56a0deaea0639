/**
 * Keeps the hot statements' plans fit for the tables' size. Every statement
 * is planned once per connection (plan_cache_mode=force_generic_plan, see
 * pool.ts), from the table's size at that moment. On a fresh database that
 * size is zero: the plans chosen then scan whole tables (cheap while they
 * are empty) and stay on their connections while the tables fill up, until
 * autovacuum's ANALYZE, which may come a minute and tens of thousands of jobs
 * later (measured on a fresh `npm start`: 1,650 full scans of `jobs` in a
 * 20,000-job drain, and 1,474 against 2,090 no-op jobs/s with per-execution
 * planning). So while a hot table is small, each worker process looks at its
 * size every PLAN_REFRESH_MS and runs ANALYZE on it when it has doubled since
 * it was last analysed: that invalidates the cached plans, and the next
 * execution plans again from the table's real size. Past SMALL_TABLE_PAGES
 * autovacuum is left to it.
 */
import type pg from "pg";

const PLAN_REFRESH_MS = 1_000;
/** 8 MB of 8 kB pages: beyond this a table's plans no longer change with its size. */
const SMALL_TABLE_PAGES = 1_024;
const HOT_TABLES = ["jobs", "job_events", "job_receipts", "webhook_attempts", "graphile_worker._private_jobs"];

/** Tables that have at least doubled (and grown by 8 pages) since ANALYZE last saw them, while still small. */
const GROWN = `
  SELECT c.oid::regclass::text AS name
    FROM pg_class c
   WHERE c.oid = ANY(SELECT to_regclass(t) FROM unnest($1::text[]) AS t)
     AND pg_relation_size(c.oid) / current_setting('block_size')::int
         BETWEEN greatest(2 * c.relpages, c.relpages + 8) AND $2`;

export class PlanRefresh {
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(private readonly pool: pg.Pool) {}

  start(): void {
    this.timer = setInterval(() => void this.check(), PLAN_REFRESH_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** One look: ANALYZE every hot table that has grown. Errors are ignored (the next look tries again). */
  async check(): Promise<string[]> {
    if (this.running) return [];
    this.running = true;
    try {
      const { rows } = await this.pool.query<{ name: string }>(GROWN, [HOT_TABLES, SMALL_TABLE_PAGES]);
      for (const { name } of rows) await this.pool.query(`ANALYZE ${name}`);
      return rows.map((row) => row.name);
    } catch {
      return [];
    } finally {
      this.running = false;
    }
  }
}
