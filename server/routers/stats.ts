/** stats.*: queue figures for the overview: jobs per state now, and recent throughput per minute. */
import { z } from "zod";
import { type JobStatus, jobStatuses } from "../../shared/states.js";
import { ownerScope } from "../jobs/queries.js";
import { authedProcedure, router } from "../trpc.js";

export interface MinuteBucket {
  minute: Date;
  started: number;
  succeeded: number;
  failed: number;
  retried: number;
}

export const statsRouter = router({
  overview: authedProcedure
    .input(z.object({ minutes: z.number().int().min(1).max(120).default(15) }).default({ minutes: 15 }))
    .query(async ({ ctx, input }) => {
      const owner = ownerScope(ctx.user) ?? null;
      const [counts, deadLetters, buckets] = await Promise.all([
        ctx.pool.query<{ status: JobStatus; n: number }>(
          `SELECT status, count(*)::int AS n FROM jobs WHERE ($1::uuid IS NULL OR owner_id = $1) GROUP BY status`,
          [owner],
        ),
        ctx.pool.query<{ n: number }>(
          `SELECT count(*)::int AS n FROM jobs
            WHERE status = 'failed' AND discarded_at IS NULL AND ($1::uuid IS NULL OR owner_id = $1)`,
          [owner],
        ),
        ctx.pool.query<MinuteBucket>(
          `SELECT m.minute,
                  count(e.*) FILTER (WHERE e.status = 'running')::int AS started,
                  count(e.*) FILTER (WHERE e.status = 'succeeded')::int AS succeeded,
                  count(e.*) FILTER (WHERE e.status = 'failed')::int AS failed,
                  count(e.*) FILTER (WHERE e.status = 'retrying')::int AS retried
             FROM generate_series(date_trunc('minute', now()) - make_interval(mins => $2 - 1),
                                  date_trunc('minute', now()), interval '1 minute') AS m(minute)
             LEFT JOIN job_events e
               ON e.kind = 'transition' AND e.at >= m.minute AND e.at < m.minute + interval '1 minute'
              AND ($1::uuid IS NULL OR e.owner_id = $1)
            GROUP BY m.minute ORDER BY m.minute`,
          [owner, input.minutes],
        ),
      ]);
      const byStatus = Object.fromEntries(jobStatuses.map((s) => [s, 0])) as Record<JobStatus, number>;
      for (const row of counts.rows) byStatus[row.status] = row.n;
      return { counts: byStatus, deadLetters: deadLetters.rows[0]?.n ?? 0, throughput: buckets.rows };
    }),
});
