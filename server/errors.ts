/**
 * The errors every layer may throw. Job operations' errors are each mapped to
 * one tRPC code (server/http/trpc.ts), so a client can switch on the code;
 * PermanentError and TransientError are what a task throws to steer the
 * worker (anything else is transient and retried).
 */
import type { JobStatus } from "../shared/states.js";

/** The job does not exist or is not the caller's (indistinguishable on purpose). */
export class JobNotFoundError extends Error {
  constructor(jobId: string) {
    super(`Job ${jobId} not found`);
    this.name = "JobNotFoundError";
  }
}

/** The action is not legal in the job's current state. */
export class IllegalTransitionError extends Error {
  constructor(
    readonly jobId: string,
    readonly status: JobStatus,
    action: string,
  ) {
    super(`Cannot ${action} job ${jobId}: it is ${status}`);
    this.name = "IllegalTransitionError";
  }
}

/** An idempotency key reused with a different payload. */
export class IdempotencyConflictError extends Error {
  constructor(
    readonly key: string,
    readonly index?: number,
  ) {
    super(
      `${index === undefined ? "" : `jobs[${index}]: `}idempotency key "${key}" was already used with a different payload`,
    );
    this.name = "IdempotencyConflictError";
  }
}

/**
 * Input that passed the schema but fails a check needing the database (a
 * webhook endpoint that is not the caller's). Carries zod-shaped issues so the
 * client sees BAD_REQUEST with data.zodError.issues naming the field, exactly
 * like a schema error. (zod 4's own ZodError is not an Error subclass, and
 * tRPC drops its issues when it wraps one.)
 */
export class FieldIssuesError extends Error {
  constructor(readonly issues: { code: "custom"; path: (string | number)[]; message: string }[]) {
    super(issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; "));
    this.name = "FieldIssuesError";
  }
}

/** The workflow does not exist or is not the caller's. */
export class WorkflowNotFoundError extends Error {
  constructor(workflowId: string) {
    super(`Workflow ${workflowId} not found`);
    this.name = "WorkflowNotFoundError";
  }
}

/** The action is not legal in the workflow's current state. */
export class WorkflowConflictError extends Error {
  constructor(workflowId: string, status: string, action: string) {
    super(`Cannot ${action} workflow ${workflowId}: it is ${status}`);
    this.name = "WorkflowConflictError";
  }
}

// ---- Thrown by tasks, read by the worker (server/worker/) ----

/** A failure that no retry can fix (bad recipient, 4xx from a webhook target): fail now. */
export class PermanentError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PermanentError";
  }
}

/**
 * Explicitly transient (the default for any other error). `retryAfterMs` asks
 * for the next attempt no sooner than that (an HTTP Retry-After, say).
 */
export class TransientError extends Error {
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options?: ErrorOptions & { retryAfterMs?: number | undefined }) {
    super(message, options);
    this.name = "TransientError";
    this.retryAfterMs = options?.retryAfterMs;
  }
}
