/**
 * Plain HTTP for clients without TypeScript: GET /api/jobs/:id (the pollUrl of
 * an enqueue) and GET /healthz.
 */
import { type ErrorRequestHandler, Router } from "express";
import { z } from "zod";
import type { JobStatus } from "../../shared/states.js";
import { isTerminal } from "../../shared/states.js";
import { ownerScope } from "../auth/scope.js";
import { userFromHeaders } from "../auth/tokens.js";
import type { AppServices } from "./context.js";

/**
 * Express decodes a route's parameters before any handler runs, and bad
 * %-encoding (/api/jobs/%E0%A4%A) fails there with a URIError that the app's
 * last handler would answer 500. Mounted after the routes under a prefix,
 * this answers it 400 naming the parameter; any other error passes on.
 */
export function badParamEncoding(param: string): ErrorRequestHandler {
  return (error: unknown, _req, res, next) => {
    if (!(error instanceof URIError) || res.headersSent) return next(error);
    res.status(400).json({ error: "bad_request", message: `${param} is not valid percent-encoding` });
  };
}

export function restRouter(services: AppServices): Router {
  const routes = Router();

  routes.get("/healthz", async (_req, res) => {
    try {
      await services.pool.query("SELECT 1");
      res.json({ ok: true, database: "up" });
    } catch {
      res.status(503).json({ ok: false, database: "down" });
    }
  });

  routes.get("/api/jobs/:id", async (req, res, next) => {
    try {
      const user = await userFromHeaders(services.db, req.headers, services.tokenCache);
      if (!user) {
        res.status(401).json({ error: "unauthorized", message: "Send a bearer token or the session cookie" });
        return;
      }
      const id = z.uuid().safeParse(req.params.id);
      if (!id.success) {
        res.status(400).json({ error: "bad_request", message: "id must be a UUID" });
        return;
      }
      const job = await services.db.job.findFirst({ where: { id: id.data, ownerId: ownerScope(user) } });
      if (!job) {
        res.status(404).json({ error: "not_found", message: `Job ${id.data} not found` });
        return;
      }
      res.json({
        job_id: job.id,
        status: job.status,
        created_at: job.createdAt.toISOString(),
        started_at: job.startedAt?.toISOString() ?? null,
        completed_at: job.completedAt?.toISOString() ?? null,
        result: job.result ?? null,
        error: job.error ?? null,
        is_terminal: isTerminal(job.status as JobStatus),
      });
    } catch (error) {
      next(error);
    }
  });

  routes.use("/api/jobs", badParamEncoding("id"));
  return routes;
}
