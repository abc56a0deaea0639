/**
 * Errors raised by job operations, each mapped to one tRPC code by the router
 * (see server/http/trpc.ts): a client can switch on the code.
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
