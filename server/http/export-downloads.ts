/**
 * GET /api/exports/:jobId/download: with a valid signature (the link in the
 * export's result) anyone holding the link may download until it expires;
 * without one, only the signed-in owner or an admin.
 */
import fs from "node:fs";
import { Router } from "express";
import { z } from "zod";
import { ownerScope } from "../auth/scope.js";
import { userFromHeaders } from "../auth/tokens.js";
import { verifyDownloadLink } from "../exports/links.js";
import type { AppServices } from "./context.js";
import { badParamEncoding } from "./rest.js";

const CONTENT_TYPES = { csv: "text/csv; charset=utf-8", ndjson: "application/x-ndjson" } as const;

export function exportRoutes(services: AppServices): Router {
  const routes = Router();
  routes.get("/api/exports/:jobId/download", async (req, res, next) => {
    try {
      const jobId = z.uuid().safeParse(req.params.jobId);
      if (!jobId.success) {
        res.status(400).json({ error: "bad_request", message: "jobId must be a UUID" });
        return;
      }
      const query = req.query as Record<string, string | undefined>;
      const signed = await verifyDownloadLink(services.db, jobId.data, query.expires, query.signature);
      let allowed = signed;
      if (!signed) {
        const user = await userFromHeaders(services.db, req.headers, services.tokenCache);
        if (!user) {
          res
            .status(401)
            .json({ error: "unauthorized", message: "Sign in, or use the signed link from the export's result" });
          return;
        }
        allowed = Boolean(await services.db.job.findFirst({ where: { id: jobId.data, ownerId: ownerScope(user) } }));
      }
      const file = allowed ? await services.db.exportFile.findUnique({ where: { jobId: jobId.data } }) : null;
      if (!file || file.expiresAt < new Date() || !fs.existsSync(file.path)) {
        res.status(404).json({ error: "not_found", message: "No export file for this job (or it has expired)" });
        return;
      }
      const format = file.format === "ndjson" ? "ndjson" : "csv";
      res.setHeader("Content-Type", file.gzip ? "application/gzip" : CONTENT_TYPES[format]);
      res.setHeader(
        "Content-Disposition",
        `attachment; filename="export-${jobId.data}.${format}${file.gzip ? ".gz" : ""}"`,
      );
      res.setHeader("Cache-Control", "private, no-store");
      fs.createReadStream(file.path).on("error", next).pipe(res);
    } catch (error) {
      next(error);
    }
  });
  routes.use("/api/exports", badParamEncoding("jobId"));
  return routes;
}
