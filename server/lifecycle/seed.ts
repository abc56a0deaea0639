/**
 * Demo data: many finished jobs (with their pending/running/succeeded events)
 * inserted by SQL in chunks, so a large export can be tried. Not an enqueue:
 * these jobs never run.
 */
import type pg from "pg";
import { longStatement } from "../db/pool.js";

const CHUNK = 50_000;

export async function seedJobs(pool: pg.Pool, ownerId: string, count: number): Promise<void> {
  for (let done = 0; done < count; done += CHUNK) {
    const size = Math.min(CHUNK, count - done);
    // A chunk takes seconds: more than DB_QUERY_TIMEOUT_MS on a loaded database.
    await pool.query(
      longStatement(
        `WITH new_jobs AS (
         INSERT INTO jobs (id, owner_id, type, payload, status, attempt, max_attempts, run_at, payload_fingerprint,
                           created_at, updated_at, started_at, completed_at, result, progress)
         SELECT gen_random_uuid(), $1::uuid, 'email',
                jsonb_build_object('to', 'user' || (i + $2) || '@example.com', 'subject', 'Demo ' || (i + $2),
                                   'body', 'Seeded demo job'),
                'succeeded', 1, 5, now(), md5(i::text),
                now() - make_interval(secs => $3 - i - $2), now(), now(), now(),
                jsonb_build_object('messageId', '<demo-' || (i + $2) || '@typed-jobs.local>',
                                   'accepted', jsonb_build_array('user' || (i + $2) || '@example.com'),
                                   'response', '250 OK'),
                '{"percent": 100}'::jsonb
           FROM generate_series(1, $4::int) AS i
         RETURNING id, owner_id
       )
       INSERT INTO job_events (job_id, owner_id, job_type, kind, status, attempt)
       SELECT n.id, n.owner_id, 'email', 'transition', s.status, s.attempt
         FROM new_jobs n
         CROSS JOIN (VALUES ('pending', 0, 1), ('running', 1, 2), ('succeeded', 1, 3)) AS s(status, attempt, ord)
        ORDER BY n.id, s.ord`,
        [ownerId, done, count, size],
      ),
    );
  }
}
