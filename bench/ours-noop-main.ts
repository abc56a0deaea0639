/**
 * Typed Jobs for the bench's no-op section (bench/real-work.ts): server/main.ts
 * as `npm start` runs it (production settings from the environment, HTTP and
 * the worker in one process, the same node flags), except that the email
 * task's run does nothing, so a job is only its pipeline: enqueue, state,
 * events, completion. There is no no-op job type to enqueue otherwise.
 *
 *   NODE_ENV=production node --max-semi-space-size=4 --import tsx bench/ours-noop-main.ts
 */
import { startApp } from "../server/app.js";
import { loadConfig } from "../server/config.js";
import { createLogger } from "../server/logger.js";

const config = loadConfig(process.env);
const logger = createLogger(config.LOG_LEVEL);
const noop = async () => ({ messageId: "<noop@bench>", accepted: [], response: "noop" });

try {
  const app = await startApp(config, logger, { client: "static", tuning: { email: { run: noop } } });
  logger.info({ url: `http://localhost:${app.port}`, worker: config.WORKER }, "Typed Jobs is up");
  process.once("SIGTERM", () => {
    app.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  });
} catch (error) {
  logger.fatal({ err: error }, "failed to start");
  process.exit(1);
}
