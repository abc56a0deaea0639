/**
 * Job forms, typed from the job registry: one field list per job type (a type
 * without a form is a compile error), validated by the same zod schema as the
 * server, with errors keyed by field. Field names are dot paths into the
 * payload ("filter.status"). A failed submit moves focus to the first field it
 * marked invalid (useFocusFirstInvalid).
 */
import { type RefObject, useEffect, useRef } from "react";
import type { z } from "zod";
import { type JobPayloadInput, type JobType, jobRegistry } from "../../../shared/jobs.js";
import { jobStatuses } from "../../../shared/states.js";

export interface FieldSpec {
  name: string;
  label: string;
  input: "text" | "email" | "textarea" | "select" | "checkbox" | "datetime" | "json";
  options?: readonly string[];
  optional?: boolean;
}

export const jobForms: { [T in JobType]: FieldSpec[] } = {
  email: [
    { name: "to", label: "To", input: "email" },
    { name: "subject", label: "Subject", input: "text" },
    { name: "body", label: "Body", input: "textarea" },
    { name: "html", label: "HTML body", input: "textarea", optional: true },
  ],
  export: [
    { name: "format", label: "Format", input: "select", options: ["csv", "ndjson"] },
    { name: "gzip", label: "Gzip", input: "checkbox", optional: true },
    { name: "filter.type", label: "Only jobs of type", input: "text", optional: true },
    { name: "filter.status", label: "Only jobs in state", input: "select", options: jobStatuses, optional: true },
    { name: "filter.from", label: "Created from", input: "datetime", optional: true },
    { name: "filter.to", label: "Created before", input: "datetime", optional: true },
  ],
  webhook: [
    { name: "endpointId", label: "Endpoint", input: "select", options: [] },
    { name: "event", label: "Event", input: "text" },
    { name: "data", label: "Data (JSON)", input: "json" },
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

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split(".");
  let node = target;
  for (const part of parts.slice(0, -1)) {
    node[part] ??= {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts.at(-1) as string] = value;
}

/** Turns raw form strings into the payload's shape: empty optional fields are left out. */
function rawPayload(type: JobType, values: Record<string, string>, errors: FieldErrors): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  for (const field of jobForms[type]) {
    const value = values[field.name] ?? "";
    if (field.input === "checkbox") {
      if (value === "true") setPath(raw, field.name, true);
      continue;
    }
    if (value === "" && field.optional) continue;
    if (field.input === "json") {
      try {
        setPath(raw, field.name, JSON.parse(value || "null"));
      } catch {
        errors[field.name] = "Not valid JSON";
      }
      continue;
    }
    if (field.input === "datetime") {
      const at = new Date(value);
      if (Number.isNaN(at.getTime())) errors[field.name] = "Not a valid date and time";
      else setPath(raw, field.name, at.toISOString());
      continue;
    }
    setPath(raw, field.name, value);
  }
  return raw;
}

type EnqueueRequest<T extends JobType> = {
  type: T;
  payload: JobPayloadInput<T>;
  idempotencyKey?: string;
  runAt?: Date;
  priority?: number;
};

/** Builds an enqueue request from raw form values, or field errors. */
export function buildEnqueueRequest<T extends JobType>(
  type: T,
  values: Record<string, string>,
  options: EnqueueOptionsForm,
): { ok: true; request: EnqueueRequest<T> } | { ok: false; errors: FieldErrors } {
  const errors: FieldErrors = {};
  const raw = rawPayload(type, values, errors);
  const payload = jobRegistry[type].payload.safeParse(raw);
  if (!payload.success) Object.assign(errors, { ...errorsOf(payload.error), ...errors });
  // The request carries the raw payload; the server parses it with the same schema.
  const request: EnqueueRequest<T> = { type, payload: raw as JobPayloadInput<T> };
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

/**
 * A ref for a form whose invalid fields carry aria-invalid="true": each time
 * `failure` changes (to the field errors of a failed submit, or the server's
 * refusal), focus moves to the form's first invalid field, once React has
 * rendered the marks. Nothing marked invalid (cleared errors, a refusal of the
 * whole form) leaves focus where it is.
 */
export function useFocusFirstInvalid(failure: unknown): RefObject<HTMLFormElement | null> {
  const form = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (failure) form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [failure]);
  return form;
}
