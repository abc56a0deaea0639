/**
 * Builds and starts the whole app in one process: database (embedded or
 * DATABASE_URL), migrations, SMTP sink (development), event hub, worker
 * (unless WORKER=off), and one Express server for tRPC, REST and the client.
 * Used by `npm run dev`, `npm start` and the integration tests.
 */
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { TRPCError } from "@trpc/server";
import { createExpressMiddleware } from "@trpc/server/adapters/express";
import express from "express";
import { TokenCache } from "./auth/tokens.js";
import type { Config } from "./config.js";
import { openDatabase } from "./db/open.js";
import { startSmtpSink } from "./email/sink.js";
import { closeTransports } from "./email/transport.js";
import { batchLimit } from "./http/batch-limit.js";
import { type AppServices, createRequestContext } from "./http/context.js";
import { devReceiver } from "./http/dev-receiver.js";
import { enqueueRoute } from "./http/enqueue-route.js";
import { eventStreamRoute } from "./http/event-stream-route.js";
import { exportRoutes } from "./http/export-downloads.js";
import { restRouter } from "./http/rest.js";
import { appRouter } from "./http/routers/_app.js";
import { EventHub } from "./jobs/event-hub.js";
import { retryAfterSeconds } from "./limits/rate-limited.js";
import type { Logger } from "./logger.js";
import { devFileGuard, protectedPaths } from "./security/dev-files.js";
import { securityHeaders } from "./security/headers.js";
import type { Network } from "./webhooks/network.js";
import { systemNetwork } from "./webhooks/network.js";
import { startWorker, type TaskTuning, type WorkerHandle } from "./worker/runner.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

export type ClientMode = "vite" | "static" | "none";

export interface RunningApp {
  url: string;
  port: number;
  services: AppServices;
  worker: WorkerHandle | undefined;
  /** Graceful: stop HTTP, drain the worker within `graceMs`, close everything. */
  stop: (graceMs?: number) => Promise<void>;
}

export interface StartOptions {
  client: ClientMode;
  tuning?: TaskTuning;
  /** Replaces DNS and HTTP for webhooks (tests prove SSRF refusals with recording fakes). */
  network?: Network;
}

export async function startApp(config: Config, logger: Logger, options: StartOptions): Promise<RunningApp> {
  const cleanups: (() => Promise<void>)[] = [];
  const database = await openDatabase(config, logger);
  cleanups.push(database.close);
  const { pool, db, url: databaseUrl } = database;

  if (!config.SMTP_URL && config.NODE_ENV !== "production") {
    // A borrowed sink is taken over when its owner exits; the email task reads
    // config.SMTP_URL at each send, so it follows should the port change.
    const sink = await startSmtpSink(db, config.dataDir, logger, {
      onUrl: (url) => {
        config.SMTP_URL = url;
      },
    });
    config.SMTP_URL = sink.url;
    cleanups.push(sink.stop);
  }

  const hub = new EventHub(pool, databaseUrl, logger);
  await hub.start();
  cleanups.push(() => hub.stop());
  const network = options.network ?? systemNetwork;
  const tokenCache = new TokenCache(config.AUTH_CACHE_TTL_MS);
  const services: AppServices = { db, pool, hub, config, logger, network, tokenCache };

  const worker =
    config.WORKER === "on"
      ? await startWorker({ db, pool, config, network }, logger, {
          concurrency: config.WORKER_CONCURRENCY,
          tuning: options.tuning,
          connectionString: databaseUrl,
        })
      : undefined;

  const app = express();
  app.disable("x-powered-by");
  // Decides req.secure and req.protocol behind a proxy (the session cookie's Secure flag, HSTS).
  app.set("trust proxy", config.TRUST_PROXY);
  if (config.TRUST_PROXY === true) {
    logger.warn("TRUST_PROXY=true trusts every hop: any client can claim HTTPS or another address; name your proxies");
  }
  if (config.NODE_ENV === "production") app.use(securityHeaders());
  // tRPC first: most requests are its, and they need not pass the other routers.
  const onTrpcError = (error: TRPCError, procedure: string | undefined) => {
    if (error.code === "INTERNAL_SERVER_ERROR") logger.error({ procedure, err: error.cause ?? error }, "tRPC error");
  };
  // Before anything on /trpc runs a call: an oversized batch is refused whole (MAX_BATCH_CALLS).
  // A request guard, not a fast path: on whatever TRPC_FAST_PATHS says.
  app.use("/trpc", batchLimit(services));
  // The fast paths: hand-written routes in tRPC's wire format. Off, tRPC's adapter below answers these calls too.
  if (config.TRPC_FAST_PATHS === "on") {
    app.use("/trpc", eventStreamRoute(services));
    app.use("/trpc", enqueueRoute(services, onTrpcError));
  }
  app.use(
    "/trpc",
    createExpressMiddleware({
      router: appRouter,
      createContext: ({ req, res }) => createRequestContext(services, req, res),
      maxBodySize: config.MAX_BODY_BYTES,
      // Every call limited (so the status is 429): say when to come back.
      responseMeta: ({ errors, data }) => {
        const seconds = errors.length === data.length ? retryAfterSeconds(errors) : undefined;
        return seconds === undefined ? {} : { headers: { "retry-after": String(seconds) } };
      },
      onError: ({ error, path: procedure }) => onTrpcError(error, procedure),
    }),
  );
  app.use(restRouter(services));
  app.use(exportRoutes(services));
  if (config.NODE_ENV !== "production") app.use("/dev/webhooks", devReceiver(services));

  const server = http.createServer(app);
  const clientCleanup = await mountClient(app, server, options.client, config);
  if (clientCleanup) cleanups.push(clientCleanup);
  // Our own 404 (Express's default drops the security headers for its own strict CSP).
  app.use((req, res) => {
    res.status(404).json({ error: "not_found", message: `No route for ${req.method} ${req.path}` });
  });
  app.use((error: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    logger.error({ err: error }, "unhandled request error");
    if (!res.headersSent) res.status(500).json({ error: "internal", message: "Internal server error" });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(config.PORT, config.HOST, () => resolve());
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.PORT;

  let stopping: Promise<void> | undefined;
  const stop = (graceMs = config.SHUTDOWN_GRACE_MS) => {
    stopping ??= (async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
      await worker?.stop(graceMs);
      closeTransports();
      for (const cleanup of cleanups.reverse()) {
        await cleanup().catch((error: Error) => logger.warn({ err: error.message }, "cleanup failed"));
      }
    })();
    return stopping;
  };

  return { url: `http://127.0.0.1:${port}`, port, services, worker, stop };
}

async function mountClient(
  app: express.Express,
  server: http.Server,
  mode: ClientMode,
  config: Config,
): Promise<(() => Promise<void>) | undefined> {
  if (mode === "vite") {
    const { createServer } = await import("vite");
    // Vite as middleware, its hot reload riding on our own HTTP server: one port.
    const vite = await createServer({
      configFile: path.join(ROOT, "vite.config.ts"),
      server: {
        middlewareMode: true,
        hmr: { server },
        // Vite would serve any file under the project root by /@fs/: only the client's own sources and packages.
        fs: {
          strict: true,
          allow: ["client", "shared", "node_modules"].map((name) => path.join(ROOT, name)),
          // Vite's defaults cover .env and .env.*; .envrc, .env-local and the like are secrets too.
          deny: [".env*", "*.{crt,pem,key,p12,pfx,cer,der}", ".npmrc", ".yarnrc.yml", "**/.git/**"],
        },
      },
      appType: "spa",
    });
    app.use(devFileGuard(protectedPaths(ROOT, config.dataDir, config.exportDir)));
    app.use(vite.middlewares);
    return () => vite.close();
  }
  if (mode === "static") {
    const dist = path.join(ROOT, "dist", "client");
    app.use(express.static(dist, { index: false }));
    app.get(/^(?!\/(trpc|api)\/).*/, (_req, res) => res.sendFile(path.join(dist, "index.html")));
  }
  return undefined;
}
