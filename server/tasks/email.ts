/**
 * The email task: sends one message over SMTP (SMTP_URL, or the development
 * sink). Its result is kept as the job's receipt (keepsReceipt: written with
 * the success, no write of its own) and the Message-ID derives from the job
 * id, so a later attempt of a job whose message went out does not send it
 * again (and a receiver can drop a duplicate from a crash between the send and
 * that write).
 */
import { emailJob } from "../../shared/jobs.js";
import { classifySmtpError, transportFor } from "../email/transport.js";
import { defineTask } from "./types.js";

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

export function messageIdFor(jobId: string): string {
  return `<${jobId}@typed-jobs.local>`;
}

export const emailTask = defineTask({
  type: "email",
  schema: emailJob,
  maxAttempts: 5,
  backoff: { baseMs: 2_000, maxMs: 5 * 60_000 },
  timeouts: { softMs: 30_000, hardMs: 45_000 },
  keepsReceipt: true,
  async run({ jobId, payload, signal, progress, services, logger, receipt }) {
    const { config } = services;
    if (receipt) {
      logger.info({ messageId: receipt.messageId }, "email already sent by an earlier attempt; not sending again");
      return receipt;
    }
    if (!config.SMTP_URL) throw new Error("SMTP_URL is not configured");
    signal.throwIfAborted();
    progress({ percent: 10, note: "Connecting to the SMTP server", stage: "connecting" });

    const messageId = messageIdFor(jobId);
    let info: { accepted?: (string | { address: string })[]; response?: string };
    try {
      const sending = transportFor(config.SMTP_URL).sendMail({
        from: config.SMTP_FROM,
        to: payload.to,
        subject: payload.subject,
        text: payload.body,
        ...(payload.html === undefined ? {} : { html: payload.html }),
        messageId,
      });
      // nodemailer takes no AbortSignal: stop waiting when aborted. Should the
      // server still accept the message, a retry may send it again with the same
      // Message-ID, which lets the receiver drop the duplicate.
      info = await Promise.race([sending, aborted(signal)]);
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      throw classifySmtpError(error);
    }
    const accepted = (info.accepted ?? []).map((a) => (typeof a === "string" ? a : a.address));
    const response = info.response ?? "";
    progress({ percent: 100, note: "Sent", stage: "sent" });
    return { messageId, accepted, response };
  },
});
