/**
 * The shipped workflows, one per shape people reach for first. Each is a few
 * lines: the payload builders are ordinary typed code, and `previous` has the
 * type of the result it comes from.
 */
import { workflowInputs } from "../../shared/workflows.js";
import { webhookTask } from "../tasks/webhook.js";
import { defineWorkflow } from "./define.js";

/** Chain: export the caller's jobs, then email the download link. */
export const exportThenEmail = defineWorkflow({
  name: "export_then_email",
  description: "Export your jobs, then email the download link (chain)",
  input: workflowInputs.export_then_email,
  steps: (s) =>
    s.chain(
      s.task("export", ({ input }) => ({ format: input.format })),
      s.task("email", ({ input, previous }) => ({
        to: input.to,
        subject: `Your ${input.format.toUpperCase()} export is ready`,
        body: `${previous.rows} rows, ${previous.bytes} bytes.\n\nDownload: ${previous.downloadUrl}\n(valid until ${previous.expiresAt})\n`,
      })),
    ),
});

/** Chord: export as CSV and NDJSON in parallel, then one webhook listing both files. */
export const exportsThenWebhook = defineWorkflow({
  name: "exports_then_webhook",
  description: "Export as CSV and NDJSON in parallel, then deliver one webhook listing both (chord)",
  input: workflowInputs.exports_then_webhook,
  checkForOwner: (pool, ownerId, input) =>
    webhookTask.checkForOwner?.({ pool }, ownerId, { endpointId: input.endpointId, event: "x", data: null }) ??
    Promise.resolve(undefined),
  steps: (s) =>
    s.chord(
      [
        s.task("export", () => ({ format: "csv" as const }), { label: "export csv" }),
        s.task("export", () => ({ format: "ndjson" as const }), { label: "export ndjson" }),
      ],
      s.task("webhook", ({ input, previous: [csv, ndjson] }) => ({
        endpointId: input.endpointId,
        event: "exports.ready",
        data: {
          files: [
            { format: "csv", rows: csv.rows, bytes: csv.bytes, downloadUrl: csv.downloadUrl },
            { format: "ndjson", rows: ndjson.rows, bytes: ndjson.bytes, downloadUrl: ndjson.downloadUrl },
          ],
        },
      })),
    ),
});

/**
 * "Process all items, then send a completion notification": one email per
 * recipient in parallel, then a report listing who got it. The report runs
 * even when some deliveries failed (runOnFailure), and names them.
 */
export const notifyAll = defineWorkflow({
  name: "notify_all",
  description: "Email every recipient, then send a report of who got it (chord that reports failures)",
  input: workflowInputs.notify_all,
  steps: (s, input) =>
    s.chord(
      input.recipients.map((to) =>
        s.task("email", () => ({ to, subject: input.subject, body: input.body }), { label: `email ${to}` }),
      ),
      s.task(
        "email",
        ({ previous }) => {
          const lines = previous.map((outcome, i) =>
            outcome.ok ? `delivered: ${input.recipients[i]}` : `FAILED: ${input.recipients[i]} (${outcome.error})`,
          );
          const failed = previous.filter((outcome) => !outcome.ok).length;
          return {
            to: input.reportTo,
            subject: `${input.subject}: ${previous.length - failed} delivered, ${failed} failed`,
            body: `${lines.join("\n")}\n`,
          };
        },
        { label: "report" },
      ),
      { runOnFailure: true },
    ),
});
