/**
 * Raw graphile-worker (the repository's own 0.17) as a peer in `npm run bench`
 * (bench/real-work.ts): one process, run() at concurrency BENCH_CONCURRENCY on
 * DATABASE_URL's database with its own pool.
 *
 * - defaults: graphile-worker's defaults (one job per fetch, LISTEN/NOTIFY).
 * - batched: the batching we ship (server/worker/runner.ts graphileBatching):
 *   localQueue of 50 jobs per fetch, completions batched in the same tick.
 *
 * A job that succeeds is deleted. Enqueues with addJobs in batches, as the
 * bench asks.
 *
 *   node --import tsx bench/peers/graphile-worker.mjs defaults|batched   (forked, with IPC)
 */
import { Logger, makeWorkerUtils, run } from "graphile-worker";
import { concurrency, failed, jobFailed, send, serve, work } from "./work.mjs";

const batched = process.argv[2] === "batched";
const connectionString = process.env.DATABASE_URL;
const silent = new Logger(() => () => {});

try {
  const runner = await run({
    connectionString,
    concurrency,
    noHandleSignals: true,
    logger: silent,
    taskList: {
      job: async (payload, helpers) => {
        try {
          await work("graphile", helpers.job.id, payload);
        } catch (error) {
          jobFailed(error);
          throw error;
        }
      },
    },
    ...(batched
      ? { preset: { worker: { localQueue: { size: 50 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } } }
      : {}),
  });
  const utils = await makeWorkerUtils({ connectionString, logger: silent });
  serve({
    enqueue: (payloads) => utils.addJobs(payloads.map((payload) => ({ identifier: "job", payload }))),
    stop: async () => {
      await runner.stop();
      await utils.release();
    },
  });
  send({ type: "ready" });
} catch (error) {
  failed(error);
}
