/**
 * The one structured logger. Lines about a job carry jobId, type, attempt and
 * state (see `jobLogger`). Secrets (tokens, passwords, SMTP credentials) are redacted.
 */
import pino, { type Logger } from "pino";

export type { Logger };

/** `stream: "stderr"` keeps standard output clean for commands that print a result. */
export function createLogger(level: string, name = "typed-jobs", stream: "stdout" | "stderr" = "stdout"): Logger {
  const options = {
    name,
    level,
    redact: {
      paths: ["token", "password", "authorization", "cookie", "*.token", "*.password", "smtpUrl", "*.smtpUrl"],
      censor: "[redacted]",
    },
  };
  return pino(options, pino.destination(stream === "stderr" ? 2 : 1));
}
