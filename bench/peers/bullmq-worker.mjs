/**
 * BullMQ as a peer in `npm run bench` (bench/real-work.ts): one process, a
 * Worker at concurrency BENCH_CONCURRENCY on the Redis at REDIS_URL, under the
 * run's key prefix BENCH_PREFIX. Job options stay BullMQ's defaults, so a
 * completed job is kept (its hash and its id in the completed set: no
 * removeOnComplete). Enqueues with addBulk in batches, as the bench asks, and
 * answers the bench's `counts` (the store is not Postgres, so the bench asks
 * here) from getJobCounts.
 *
 *   node --import tsx bench/peers/bullmq-worker.mjs          (forked, with IPC)
 *   node bench/peers/bullmq-worker.mjs --cleanup <prefix>    (deletes the run's keys: SCAN + UNLINK, never FLUSHDB)
 */
import { Queue, Worker } from "bullmq";
import { Redis } from "ioredis";

const url = process.env.REDIS_URL || "redis://127.0.0.1:6379";
const prefix = process.argv[2] === "--cleanup" ? process.argv[3] : process.env.BENCH_PREFIX;
const QUEUE = "bench";

/** ioredis options for `url`, failing fast when nothing answers (BullMQ needs maxRetriesPerRequest null). */
function connectionOptions() {
  const parsed = new URL(url);
  return {
    host: parsed.hostname || "127.0.0.1",
    port: Number(parsed.port || 6379),
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    db: Number(parsed.pathname.slice(1) || 0),
    ...(parsed.protocol === "rediss:" ? { tls: {} } : {}),
    maxRetriesPerRequest: null,
    connectTimeout: 3_000,
  };
}

/** Deletes every key under `prefix:`; SCAN in pages, UNLINK each page. */
async function cleanup(redis) {
  if (!prefix || prefix.length < 8) throw new Error("refusing to clean up without a run prefix");
  let cursor = "0";
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}:*`, "COUNT", 1000);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== "0");
  return deleted;
}

if (process.argv[2] === "--cleanup") {
  const redis = new Redis({ ...connectionOptions(), maxRetriesPerRequest: 1, lazyConnect: true });
  try {
    await redis.connect();
    const deleted = await cleanup(redis);
    process.stdout.write(`deleted ${deleted} keys under ${prefix}:\n`);
  } finally {
    redis.disconnect();
  }
} else {
  const { failed, jobFailed, send, serve, work, concurrency } = await import("./work.mjs");
  try {
    if (!prefix || prefix.length < 8) throw new Error("BENCH_PREFIX is required");
    // Whether Redis answers at all, before BullMQ's connections retry for ever.
    const probe = new Redis({
      ...connectionOptions(),
      maxRetriesPerRequest: 1,
      lazyConnect: true,
      retryStrategy: () => null,
    });
    try {
      await probe.connect();
    } catch (error) {
      throw new Error(`no Redis at ${url}: ${error instanceof Error ? error.message : String(error)}`);
    }
    const info = await probe.info("server");
    const redisPid = Number(/process_id:(\d+)/.exec(info)?.[1] ?? 0);
    const memory = async () => Number(/used_memory:(\d+)/.exec(await probe.info("memory"))?.[1] ?? 0);
    const connection = connectionOptions();
    const queue = new Queue(QUEUE, { connection, prefix });
    const worker = new Worker(
      QUEUE,
      async (job) => {
        try {
          await work("bullmq", job.id, job.data);
        } catch (error) {
          jobFailed(error);
          throw error;
        }
      },
      { connection, prefix, concurrency },
    );
    worker.on("error", (error) => jobFailed(error));
    await queue.waitUntilReady();
    await worker.waitUntilReady();
    const memoryBefore = await memory();
    serve({
      enqueue: (payloads) => queue.addBulk(payloads.map((data) => ({ name: "job", data }))),
      counts: async ({ final }) => {
        const c = await queue.getJobCounts(
          "wait",
          "active",
          "delayed",
          "prioritized",
          "paused",
          "waiting-children",
          "completed",
          "failed",
        );
        const n = (state) => c[state] ?? 0;
        const remaining =
          n("wait") + n("active") + n("delayed") + n("prioritized") + n("paused") + n("waiting-children");
        const stored = final ? { storedBytes: (await memory()) - memoryBefore } : {};
        return { remaining, completed: n("completed"), failed: n("failed"), ...stored };
      },
      stop: async () => {
        await worker.close();
        await queue.close();
        probe.disconnect();
      },
    });
    send({ type: "ready", redisPid });
  } catch (error) {
    failed(error);
  }
}
