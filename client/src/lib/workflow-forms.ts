/**
 * The start forms of the shipped workflows: fields as the browser holds them
 * (strings), turned into a typed workflows.start request and checked with the
 * same zod schema the server uses, so errors name the same fields.
 */

import { type WorkflowName, type WorkflowStart, workflowInputs } from "../../../shared/workflows.js";
import type { FieldErrors } from "./forms.js";

export interface WorkflowField {
  name: string;
  label: string;
  input: "text" | "email" | "textarea" | "select" | "endpoint";
  options?: string[];
  hint?: string;
}

export const workflowForms: Record<WorkflowName, WorkflowField[]> = {
  export_then_email: [
    { name: "format", label: "Format", input: "select", options: ["csv", "ndjson"] },
    { name: "to", label: "Email the link to", input: "email" },
  ],
  exports_then_webhook: [{ name: "endpointId", label: "Webhook endpoint", input: "endpoint" }],
  notify_all: [
    { name: "recipients", label: "Recipients", input: "textarea", hint: "one address per line, up to 20" },
    { name: "subject", label: "Subject", input: "text" },
    { name: "body", label: "Body", input: "textarea" },
    { name: "reportTo", label: "Send the report to", input: "email" },
  ],
};

/** The raw input of a workflow from the form's strings (recipients: one per line). */
function rawInput(name: WorkflowName, values: Record<string, string>): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const field of workflowForms[name]) {
    const value = values[field.name] ?? field.options?.[0] ?? "";
    raw[field.name] =
      field.name === "recipients"
        ? value
            .split("\n")
            .map((line) => line.trim())
            .filter(Boolean)
        : value;
  }
  return raw;
}

export function buildStartRequest(
  name: WorkflowName,
  values: Record<string, string>,
): { ok: true; request: WorkflowStart } | { ok: false; errors: FieldErrors } {
  const parsed = workflowInputs[name].safeParse(rawInput(name, values));
  if (parsed.success) return { ok: true, request: { name, input: parsed.data } as WorkflowStart };
  const errors: FieldErrors = {};
  for (const issue of parsed.error.issues) {
    const field = String(issue.path[0] ?? "");
    errors[field] ??= issue.path.length > 1 ? `line ${Number(issue.path[1]) + 1}: ${issue.message}` : issue.message;
  }
  return { ok: false, errors };
}
