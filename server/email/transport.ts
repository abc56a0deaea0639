/**
 * server/email/ (services) owns sending mail: the SMTP transport (here) and the development sink (sink.ts).
 * Must not: import anything above the services layer, or write job state; the email job type is
 * server/tasks/email.ts.
 *
 * SMTP delivery through nodemailer, one transport per SMTP URL per process, and
 * the classification of SMTP failures into permanent (5xx: the server refused)
 * and transient (4xx, unreachable, timeouts).
 */
import nodemailer, { type Transporter } from "nodemailer";
import { PermanentError, TransientError } from "../errors.js";

const transports = new Map<string, Transporter>();

export function transportFor(smtpUrl: string): Transporter {
  let transport = transports.get(smtpUrl);
  if (!transport) {
    transport = nodemailer.createTransport({
      url: smtpUrl,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
    transports.set(smtpUrl, transport);
  }
  return transport;
}

export function closeTransports(): void {
  for (const transport of transports.values()) transport.close();
  transports.clear();
}

interface SmtpError extends Error {
  code?: string;
  responseCode?: number;
  response?: string;
}

/** Maps a nodemailer error to PermanentError or TransientError, keeping the cause. */
export function classifySmtpError(error: unknown): Error {
  const e = error as SmtpError;
  const detail = e.response ?? e.message ?? String(error);
  if (typeof e.responseCode === "number" && e.responseCode >= 500) {
    return new PermanentError(`SMTP server refused the message (${e.responseCode}): ${detail}`, { cause: error });
  }
  return new TransientError(`SMTP delivery failed${e.code ? ` (${e.code})` : ""}: ${detail}`, { cause: error });
}
