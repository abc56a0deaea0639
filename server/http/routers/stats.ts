/** stats.*: queue figures for the overview: jobs per state now, and recent throughput per minute. */
import { z } from "zod";
import { type JobStatus, jobStatuses } from "../../../shared/states.js";
import { ownerScope } from "../../auth/scope.js";
import { authedProcedure, router } from "../trpc.js";

export interface MinuteBucket {
  minute: Date;
  started: number;
  succeeded: number;
  failed: number;
  retried: number;
}

/**
 * The overview's three queries, each with the owner filter only when scoped.
 * The pool plans every statement once for any parameters (server/db/pool.ts),
 * so an optional filter written "$n IS NULL OR owner_id = $n" would get a plan
 * that reads every owner's rows.
 */
export function overviewQueries(owner: string | undefined, minutes: number) {
  const scoped = owner !== undefined;
  return {
    counts: {
      text: `SELECT status, count(*)::int AS n FROM jobs ${scoped ? "WHERE owner_id = $1" : ""} GROUP BY status`,
      values: scoped ? [owner] : [],
    },
    deadLetters: {
      text: `SELECT count(*)::int AS n FROM jobs
              WHERE status = 'failed' AND discarded_at IS NULL ${scoped ? "AND owner_id = $1" : ""}`,
      values: scoped ? [owner] : [],
    },
    buckets: {
      text: `SELECT m.minute,
                    count(e.*) FILTER (WHERE e.status = 'running')::int AS started,
                    count(e.*) FILTER (WHERE e.status = 'succeeded')::int AS succeeded,
                    count(e.*) FILTER (WHERE e.status = 'failed')::int AS failed,
                    count(e.*) FILTER (WHERE e.status = 'retrying')::int AS retried
               FROM generate_series(date_trunc('minute', now()) - make_interval(mins => $1 - 1),
                                    date_trunc('minute', now()), interval '1 minute') AS m(minute)
               LEFT JOIN job_events e
                 ON e.kind = 'transition' AND e.at >= m.minute AND e.at < m.minute + interval '1 minute'
                ${scoped ? "AND e.owner_id = $2" : ""}
              GROUP BY m.minute ORDER BY m.minute`,
      values: scoped ? [minutes, owner] : [minutes],
    },
  };
}

export const statsRouter = router({
  overview: authedProcedure
    .input(z.object({ minutes: z.number().int().min(1).max(120).default(15) }).default({ minutes: 15 }))
    .query(async ({ ctx, input }) => {
      const queries = overviewQueries(ownerScope(ctx.user), input.minutes);
      const [counts, deadLetters, buckets] = await Promise.all([
        ctx.pool.query<{ status: JobStatus; n: number }>(queries.counts),
        ctx.pool.query<{ n: number }>(queries.deadLetters),
        ctx.pool.query<MinuteBucket>(queries.buckets),
      ]);
      const byStatus = Object.fromEntries(jobStatuses.map((s) => [s, 0])) as Record<JobStatus, number>;
      for (const row of counts.rows) byStatus[row.status] = row.n;
      return { counts: byStatus, deadLetters: deadLetters.rows[0]?.n ?? 0, throughput: buckets.rows };
    }),
});
