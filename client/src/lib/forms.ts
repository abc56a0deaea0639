/**
 * Job forms, typed from the job registry: one field list per job type (a type
 * without a form is a compile error), validated by the same zod schema as the
 * server, with errors keyed by field.
 */
import type { z } from "zod";
import { type JobPayload, type JobType, jobRegistry } from "../../../shared/jobs.js";

export interface FieldSpec<P> {
  name: keyof P & string;
  label: string;
  input: "text" | "email" | "textarea";
  optional?: boolean;
}

export const jobForms: { [T in JobType]: FieldSpec<JobPayload<T>>[] } = {
  email: [
    { name: "to", label: "To", input: "email" },
    { name: "subject", label: "Subject", input: "text" },
    { name: "body", label: "Body", input: "textarea" },
    { name: "html", label: "HTML body", input: "textarea", optional: true },
  ],
};

export interface EnqueueOptionsForm {
  idempotencyKey: string;
  runAt: string;
  priority: string;
}

export type FieldErrors = Record<string, string>;

function errorsOf(error: z.ZodError): FieldErrors {
  const errors: FieldErrors = {};
  for (const issue of error.issues) {
    const key = issue.path.join(".") || "form";
    errors[key] ??= issue.message;
  }
  return errors;
}

/**
 * Builds an enqueue request from raw form values, or field errors. Empty
 * optional fields are left out rather than sent as "".
 */
export function buildEnqueueRequest<T extends JobType>(
  type: T,
  values: Record<string, string>,
  options: EnqueueOptionsForm,
):
  | { ok: true; request: { type: T; payload: JobPayload<T>; idempotencyKey?: string; runAt?: Date; priority?: number } }
  | { ok: false; errors: FieldErrors } {
  const raw: Record<string, string> = {};
  for (const field of jobForms[type]) {
    const value = values[field.name] ?? "";
    if (value !== "" || !field.optional) raw[field.name] = value;
  }
  const payload = jobRegistry[type].payload.safeParse(raw);
  const errors: FieldErrors = payload.success ? {} : errorsOf(payload.error);
  const request: { type: T; payload: JobPayload<T>; idempotencyKey?: string; runAt?: Date; priority?: number } = {
    type,
    payload: (payload.success ? payload.data : raw) as JobPayload<T>,
  };
  if (options.idempotencyKey.trim()) {
    if (options.idempotencyKey.length > 255) errors.idempotencyKey = "At most 255 characters";
    else request.idempotencyKey = options.idempotencyKey;
  }
  if (options.runAt) {
    const runAt = new Date(options.runAt);
    if (Number.isNaN(runAt.getTime())) errors.runAt = "Not a valid date and time";
    else request.runAt = runAt;
  }
  if (options.priority.trim()) {
    const priority = Number(options.priority);
    if (!Number.isInteger(priority) || priority < -32768 || priority > 32767) {
      errors.priority = "A whole number from -32768 to 32767 (lower runs first)";
    } else request.priority = priority;
  }
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, request };
}
