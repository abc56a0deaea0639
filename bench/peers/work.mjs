/**
 * The work each peer's worker process does per job, the same in every peer
 * (bench/real-work.ts starts them): the kind comes from BENCH_KIND.
 *
 * - email: one message through nodemailer, with the settings and the one
 *   non-pooled transport per SMTP URL of server/email/transport.ts, and a
 *   Message-ID derived from the job id (the bench's SMTP server counts by it).
 * - webhook: one signed POST to BENCH_WEBHOOK_URL through our own delivery
 *   code (server/webhooks: the target check, Standard Webhooks signing, the
 *   pinned HTTP connector and its deadline), loaded through tsx; 2xx or throw.
 * - noop: nothing.
 *
 * Also the IPC helpers the worker scripts share: ready/failed reports, the
 * feed loop (batches of BENCH_FEED_BATCH), and exiting when the bench goes away.
 */
import nodemailer from "nodemailer";
import { deliveryDeadline } from "../../server/webhooks/deadline.ts";
import { httpConnector } from "../../server/webhooks/http.ts";
import { messageIdFor, webhookHeaders } from "../../server/webhooks/signing.ts";
import { checkTarget, systemResolver } from "../../server/webhooks/ssrf.ts";

export const kind = process.env.BENCH_KIND ?? "noop";
export const concurrency = Number(process.env.BENCH_CONCURRENCY ?? "10");
const feedBatch = Number(process.env.BENCH_FEED_BATCH ?? "500");
/** Jobs in this run. */
export const jobs = Number(process.env.BENCH_JOBS ?? "0");
/** The webhook task's deadline default (WEBHOOK_TIMEOUT_MS). */
const WEBHOOK_TIMEOUT_MS = 15_000;

let transport;

/** The payload of job `i` of this kind, as every system enqueues it. */
export function payloadFor(i) {
  if (kind === "email") return { to: "bench@example.com", subject: "Bench", body: "b" };
  if (kind === "webhook") return { event: "bench.ping", data: { i } };
  return {};
}

/** Runs one job of this kind; `system` names the peer in the Message-ID. */
export async function work(system, jobId, payload) {
  if (kind === "email") {
    transport ??= nodemailer.createTransport({
      url: process.env.BENCH_SMTP_URL,
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
      socketTimeout: 30_000,
    });
    await transport.sendMail({
      from: "Bench peers <jobs@bench.local>",
      to: payload.to,
      subject: payload.subject,
      text: payload.body,
      messageId: `<${jobId}@${system}.bench.local>`,
    });
  } else if (kind === "webhook") {
    const deadline = deliveryDeadline(WEBHOOK_TIMEOUT_MS);
    try {
      const target = await checkTarget(process.env.BENCH_WEBHOOK_URL, {
        allowLoopback: true,
        resolve: systemResolver,
        signal: deadline.signal,
      });
      const msgId = messageIdFor(`${system}-${jobId}`);
      const timestamp = new Date();
      const body = JSON.stringify({ type: payload.event, timestamp: timestamp.toISOString(), data: payload.data });
      const response = await httpConnector({
        target,
        headers: webhookHeaders([process.env.BENCH_WEBHOOK_SECRET], msgId, timestamp, body),
        body,
        signal: deadline.signal,
      });
      if (response.status < 200 || response.status >= 300) throw new Error(`the endpoint answered ${response.status}`);
    } finally {
      deadline.clear();
    }
  }
}

/** Reports to the bench; a job that throws is reported once (the bench fails the run on it). */
export function send(message) {
  process.send?.(message);
}

let reportedJobError = false;
export function jobFailed(error) {
  if (reportedJobError) return;
  reportedJobError = true;
  send({ type: "job-error", message: error instanceof Error ? error.message : String(error) });
}

/**
 * Serves the bench's requests: `feed` (enqueue `count` jobs in batches with
 * `enqueue(payloads)`), `counts` (when the store is not Postgres), `stop`.
 * Exits when the bench goes away.
 */
export function serve({ enqueue, counts, stop }) {
  process.on("disconnect", () => process.exit(1));
  process.on("message", async (message) => {
    try {
      if (message.type === "feed") {
        for (let done = 0; done < message.count; done += feedBatch) {
          const n = Math.min(feedBatch, message.count - done);
          await enqueue(Array.from({ length: n }, (_, i) => payloadFor(done + i)));
        }
        send({ type: "fed" });
      } else if (message.type === "counts") {
        send({ type: "counts", ...(await counts(message)) });
      } else if (message.type === "stop") {
        await stop();
        process.exit(0);
      }
    } catch (error) {
      send({ type: "failed", message: error instanceof Error ? error.message : String(error) });
    }
  });
}

/** Reports a start-up failure and exits. */
export function failed(error) {
  send({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  setTimeout(() => process.exit(1), 100);
}
