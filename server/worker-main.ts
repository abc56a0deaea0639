/**
 * `npm run worker`: a worker process alone, for scaling out. Any number of these
 * (and of servers with WORKER=off) share one Postgres.
 */
import { loadConfig } from "./config.js";
import { openDatabase } from "./db/open.js";
import { startSmtpSink } from "./email/sink.js";
import { closeTransports } from "./email/transport.js";
import { createLogger } from "./logger.js";
import { systemNetwork } from "./webhooks/network.js";
import { startWorker } from "./worker/runner.js";

const config = loadConfig();
const logger = createLogger(config.LOG_LEVEL, "typed-jobs-worker");

try {
  const database = await openDatabase(config, logger);
  let stopSink = async () => {};
  if (!config.SMTP_URL && config.NODE_ENV !== "production") {
    // A borrowed sink is taken over when its owner exits, maybe on another port.
    const sink = await startSmtpSink(database.db, config.dataDir, logger, {
      onUrl: (url) => {
        config.SMTP_URL = url;
      },
    });
    config.SMTP_URL = sink.url;
    stopSink = sink.stop;
  }
  const worker = await startWorker({ db: database.db, pool: database.pool, config, network: systemNetwork }, logger, {
    concurrency: config.WORKER_CONCURRENCY,
    connectionString: database.url,
  });
  let signals = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    signals += 1;
    if (signals > 1) process.exit(1);
    logger.info({ signal }, "worker shutting down");
    worker
      .stop(config.SHUTDOWN_GRACE_MS)
      .then(async () => {
        closeTransports();
        await stopSink();
        await database.close();
        process.exit(0);
      })
      .catch((error: Error) => {
        logger.error({ err: error }, "worker shutdown failed");
        process.exit(1);
      });
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
} catch (error) {
  logger.fatal({ err: error }, "worker failed to start");
  process.exit(1);
}
