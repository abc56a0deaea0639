/**
 * A webhook receiver for development (not mounted in production): POST
 * /dev/webhooks/:name records each delivery and whether its signature verifies
 * against the secrets of the endpoints pointing here; POST
 * /dev/webhooks/:name/fail?count=N makes the next N deliveries answer 503, so
 * the demo shows retries and the dead-letter queue with no outside service;
 * GET /dev/webhooks/:name lists what arrived. Kept in memory, per process.
 */
import express, { Router } from "express";
import { signingSecrets } from "../webhooks/endpoints.js";
import { verifyWebhook } from "../webhooks/verify.js";
import type { AppServices } from "./context.js";

export interface ReceivedDelivery {
  id: string;
  timestamp: string;
  verified: boolean;
  body: string;
  receivedAt: Date;
}

const KEEP = 200;

export function devReceiver(services: AppServices): Router {
  const received = new Map<string, ReceivedDelivery[]>();
  const failNext = new Map<string, number>();
  const routes = Router();

  routes.post("/:name/fail", (req, res) => {
    const count = Math.max(0, Math.min(1000, Number(req.query.count ?? 1) || 0));
    failNext.set(req.params.name, count);
    res.json({ name: req.params.name, failNext: count });
  });

  routes.get("/:name", (req, res) => {
    res.json({ name: req.params.name, deliveries: received.get(req.params.name) ?? [] });
  });

  routes.post("/:name", express.raw({ type: "*/*", limit: "5mb" }), async (req, res, next) => {
    try {
      const name = req.params.name;
      const pending = failNext.get(name) ?? 0;
      if (pending > 0) {
        failNext.set(name, pending - 1);
        res.status(503).json({ error: "failing on purpose", remaining: pending - 1 });
        return;
      }
      const body = Buffer.isBuffer(req.body) ? req.body.toString("utf8") : "";
      const endpoints = await services.db.webhookEndpoint.findMany({
        where: { url: { endsWith: `/dev/webhooks/${name}` } },
      });
      const verified = endpoints.some((endpoint) =>
        signingSecrets(endpoint).some((secret) => {
          try {
            verifyWebhook(secret, body, req.headers);
            return true;
          } catch {
            return false;
          }
        }),
      );
      const list = received.get(name) ?? [];
      list.unshift({
        id: String(req.headers["webhook-id"] ?? ""),
        timestamp: String(req.headers["webhook-timestamp"] ?? ""),
        verified,
        body,
        receivedAt: new Date(),
      });
      received.set(name, list.slice(0, KEEP));
      res.status(verified ? 200 : 401).json({ received: true, verified });
    } catch (error) {
      next(error);
    }
  });
  return routes;
}
