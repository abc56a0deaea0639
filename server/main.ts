/**
 * `npm run dev` (with --dev: Vite with hot reload, a demo token printed) and
 * `npm start` (the built client). SIGTERM/SIGINT shut down gracefully; a second
 * signal forces the exit.
 */
import { startApp } from "./app.js";
import { issueToken } from "./auth/tokens.js";
import { upsertUserWithPassword } from "./auth/users.js";
import { loadConfig } from "./config.js";
import { createLogger } from "./logger.js";

const dev = process.argv.includes("--dev");
const DEMO_EMAIL = "demo@typed-jobs.local";
const DEMO_PASSWORD = "demo-password";
// Development defaults: loopback webhooks (the built-in receiver), and absolute
// download links, so a link mailed by a workflow opens from the mail page.
const devDefaults = {
  NODE_ENV: "development",
  WEBHOOK_ALLOW_LOOPBACK: "true",
  PUBLIC_URL: `http://localhost:${process.env.PORT ?? "3000"}`,
};
const config = loadConfig(dev ? { ...devDefaults, ...process.env } : process.env);
const logger = createLogger(config.LOG_LEVEL);

try {
  const app = await startApp(config, logger, { client: dev ? "vite" : "static" });
  const publicUrl = `http://localhost:${app.port}`;
  logger.info({ url: publicUrl, worker: config.WORKER }, "Typed Jobs is up");
  if (dev) {
    // A demo account so a newcomer is in at once; the API still refuses anonymous calls.
    await upsertUserWithPassword(app.services.db, DEMO_EMAIL, DEMO_PASSWORD, "admin");
    const token = await issueToken(app.services.db, DEMO_EMAIL, { admin: true });
    process.stdout.write(
      [
        "",
        `  Typed Jobs: ${publicUrl}`,
        `  Sign in as ${DEMO_EMAIL} / ${DEMO_PASSWORD} (admin)`,
        "  API token for the same account (Authorization: Bearer ...):",
        `  ${token}`,
        "",
        "",
      ].join("\n"),
    );
  }

  let signals = 0;
  let firstSignalAt = 0;
  const shutdown = (signal: NodeJS.Signals) => {
    // Ctrl-C reaches us twice at once (from the terminal's process group and
    // relayed by tsx); only a signal sent later counts as the second.
    if (signals === 1 && Date.now() - firstSignalAt < 500) return;
    signals += 1;
    firstSignalAt ||= Date.now();
    if (signals > 1) {
      logger.warn({ signal }, "second signal: exiting now; interrupted jobs will retry");
      process.exit(1);
    }
    logger.info({ signal }, "shutting down");
    app.stop().then(
      () => process.exit(0),
      (error: Error) => {
        logger.error({ err: error }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
} catch (error) {
  logger.fatal({ err: error }, "failed to start");
  process.exit(1);
}
