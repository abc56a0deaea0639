/**
 * `npm run dev` (with --dev: Vite with hot reload, a demo token printed) and
 * `npm start` (the built client). SIGTERM/SIGINT shut down gracefully: running
 * jobs get SHUTDOWN_GRACE_MS, then the SMTP sink and, last, the embedded
 * Postgres stop (it runs in a process group of its own, so the terminal's
 * Ctrl-C reaches only this process). A second signal forces the exit: the
 * embedded Postgres keeps running, and the next start adopts it.
 */
import { startApp } from "./app.js";
import { issueToken } from "./auth/tokens.js";
import { upsertUserWithPassword } from "./auth/users.js";
import { loadConfig } from "./config.js";
import { devBanner } from "./dev-banner.js";
import { createLogger } from "./logger.js";

const dev = process.argv.includes("--dev");
const DEMO_EMAIL = "demo@typed-jobs.local";
const DEMO_PASSWORD = "demo-password";
/** The printed demo token works this long: it is on screen and in terminal scrollback. */
const DEMO_TOKEN_TTL_MS = 24 * 3600_000;
// Development defaults: loopback only (the dev server serves sources, and the
// demo admin's password is printed below), and loopback webhooks (the
// built-in receiver). `npm start` keeps HOST's default, 0.0.0.0.
const devDefaults = { NODE_ENV: "development", HOST: "127.0.0.1", WEBHOOK_ALLOW_LOOPBACK: "true" };
// An empty variable means unset (as in loadConfig), so it keeps the development default.
const setInEnv = Object.fromEntries(Object.entries(process.env).filter(([, value]) => value !== ""));
const config = loadConfig(dev ? { ...devDefaults, ...setInEnv } : process.env);

const logger = createLogger(config.LOG_LEVEL);

try {
  const app = await startApp(config, logger, { client: dev ? "vite" : "static" });
  const publicUrl = `http://localhost:${app.port}`;
  logger.info({ url: publicUrl, worker: config.WORKER }, "Typed Jobs is up");
  if (dev) {
    // Absolute download links, so a link mailed by a workflow opens from the
    // mail page; set once the port is known (PORT=0 picks one).
    config.PUBLIC_URL ??= publicUrl;
    // A demo account so a newcomer is in at once; the API still refuses anonymous calls.
    await upsertUserWithPassword(app.services.db, DEMO_EMAIL, DEMO_PASSWORD, "admin");
    const expiresAt = new Date(Date.now() + DEMO_TOKEN_TTL_MS);
    const token = await issueToken(app.services.db, DEMO_EMAIL, { admin: true, expiresAt });
    process.stdout.write(
      devBanner({
        url: publicUrl,
        host: config.HOST,
        email: DEMO_EMAIL,
        password: DEMO_PASSWORD,
        token,
        tokenExpiresAt: expiresAt,
      }),
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
      logger.warn(
        { signal },
        "second signal: exiting now; interrupted jobs will retry, and an embedded Postgres left running is adopted by the next start",
      );
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
