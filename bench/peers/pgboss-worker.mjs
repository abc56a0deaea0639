/**
 * pg-boss as a peer in `npm run bench` (bench/real-work.ts): one process, a
 * worker at concurrency BENCH_CONCURRENCY on DATABASE_URL's database, tuned
 * for throughput as pg-boss's docs say (docs/api/workers.md):
 *
 * - 12: one work() with localConcurrency 10 (ten workers in this process),
 *   batches of 50 per fetch, burstWhenBatchFull (fetch again at once while
 *   batches come back full), the minimum pollingIntervalSeconds (0.5), and
 *   LISTEN/NOTIFY (useListenNotify, a queue with notify) so an insert wakes
 *   the workers at once.
 * - 10: no localConcurrency, LISTEN/NOTIFY or burst yet: ten work() calls
 *   (each adds a worker), batches of 50, pollingIntervalSeconds 0.5. A worker
 *   waits out the rest of its interval after each batch, so jobs shorter than
 *   a millisecond drain at most 10 x 50 per 0.5 s: 1,000 jobs/s.
 *
 * A worker runs its batch's jobs one after another, so at most ten run at once;
 * pg-boss completes a batch with one query when its handler returns. A batch
 * is at most a tenth of the run's jobs, so that all ten workers get some in a
 * small run (200 jobs: batches of 20).
 * Enqueues with insert() in batches, as the bench asks.
 *
 *   node --import tsx bench/peers/pgboss-worker.mjs 12|10   (forked, with IPC)
 */
import { concurrency, failed, jobFailed, jobs, send, serve, work } from "./work.mjs";

const version = process.argv[2];
const QUEUE = "bench";
const system = `pgboss${version}`;
const connectionString = process.env.DATABASE_URL;
const batchSize = Math.max(1, Math.min(50, Math.ceil(jobs / concurrency)));

try {
  let boss;
  if (version === "12") {
    const { PgBoss } = await import("pg-boss-12");
    boss = new PgBoss({ connectionString, useListenNotify: true });
  } else {
    const { default: PgBoss } = await import("pg-boss-10");
    boss = new PgBoss({ connectionString });
  }
  boss.on("error", (error) => jobFailed(error));
  await boss.start();
  const handler = async (jobs) => {
    for (const job of jobs) {
      try {
        await work(system, job.id, job.data);
      } catch (error) {
        jobFailed(error);
        throw error;
      }
    }
  };
  if (version === "12") {
    await boss.createQueue(QUEUE, { notify: true });
    await boss.work(
      QUEUE,
      { localConcurrency: concurrency, batchSize, burstWhenBatchFull: true, pollingIntervalSeconds: 0.5 },
      handler,
    );
  } else {
    await boss.createQueue(QUEUE);
    for (let i = 0; i < concurrency; i++) await boss.work(QUEUE, { batchSize, pollingIntervalSeconds: 0.5 }, handler);
  }
  serve({
    enqueue: (payloads) =>
      version === "12"
        ? boss.insert(
            QUEUE,
            payloads.map((data) => ({ data })),
          )
        : boss.insert(payloads.map((data) => ({ name: QUEUE, data }))),
    stop: () => boss.stop({ graceful: true, wait: true, timeout: 5_000 }),
  });
  send({ type: "ready" });
} catch (error) {
  failed(error);
}
