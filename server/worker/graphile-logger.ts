/** Routes graphile-worker's own log lines into our pino logger. */
import { Logger as GraphileLogger } from "graphile-worker";
import type { Logger } from "../logger.js";

export function graphileLogger(logger: Logger): GraphileLogger {
  return new GraphileLogger((scope) => (level, message, meta) => {
    const fields = { graphile: scope, ...(meta ?? {}) };
    if (level === "error") logger.error(fields, message);
    else if (level === "warning") logger.warn(fields, message);
    else if (level === "info") logger.debug(fields, message);
    else logger.trace(fields, message);
  });
}
