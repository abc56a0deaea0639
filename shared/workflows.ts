/**
 * The workflow contract: which workflows clients may start, each one's input
 * schema, and the shapes workflows.get and workflows.list return. The steps
 * themselves are server code (server/workflows/); this file stays isomorphic.
 *
 * To add a workflow: add its input schema here and its steps in
 * server/workflows/examples.ts (the `satisfies` there makes a missing one a
 * compile error).
 */
import { z } from "zod";
import { emailJob, type JobType } from "./jobs.js";
import type { JobStatus } from "./states.js";

// The email task's own field schemas, so an input that passes here builds payloads that pass there.
const email = emailJob.payload.shape;
const recipient = email.to;

export const workflowInputs = {
  /** Chain: export the caller's jobs, then email the download link. */
  export_then_email: z.object({
    format: z.enum(["csv", "ndjson"]),
    to: recipient,
  }),
  /** Chord: export as CSV and as NDJSON in parallel, then deliver one webhook listing both files. */
  exports_then_webhook: z.object({
    endpointId: z.uuid(),
  }),
  /** Chord that reports failures: email every recipient, then send a summary of who got it. */
  notify_all: z.object({
    recipients: z.array(recipient).min(1).max(20),
    subject: email.subject.pipe(z.string().max(200)),
    body: email.body.pipe(z.string().max(10_000)),
    reportTo: recipient,
  }),
};

export type WorkflowName = keyof typeof workflowInputs;
export type WorkflowInput<N extends WorkflowName> = z.output<(typeof workflowInputs)[N]>;
export const workflowNames = Object.keys(workflowInputs) as [WorkflowName, ...WorkflowName[]];

const startSchemas = workflowNames.map((name) => z.object({ name: z.literal(name), input: workflowInputs[name] }));

/** workflows.start's input: a declared workflow's name and its typed input. */
export type WorkflowStart = {
  [N in WorkflowName]: { name: N; input: z.input<(typeof workflowInputs)[N]> };
}[WorkflowName];

// As for enqueue items: zod cannot infer a union built from a runtime list.
export const workflowStartSchema = z.discriminatedUnion(
  "name",
  startSchemas as unknown as [(typeof startSchemas)[number], ...(typeof startSchemas)[number][]],
) as unknown as z.ZodType<WorkflowStart>;

/**
 * A workflow's state. Stored as running, succeeded, failed or cancelled;
 * reported as pending while none of its steps has started yet.
 */
export const workflowStatuses = ["pending", "running", "succeeded", "failed", "cancelled"] as const;
export type WorkflowStatus = (typeof workflowStatuses)[number];

/** A step's state: its job's status once enqueued; waiting before, skipped if it never will run. */
export type StepStatus = JobStatus | "waiting" | "skipped";

export interface WorkflowNodeView {
  /** Position in the tree, "0" for the root, "0.1.2" for the third child of its second child. */
  path: string;
  kind: "task" | "chain" | "group" | "chord";
  label: string;
  status: StepStatus;
  /** A chord's callback (the last child of a chord). */
  callback?: boolean;
  jobType?: JobType;
  jobId?: string;
  error?: string;
  children: WorkflowNodeView[];
}

export interface WorkflowView {
  id: string;
  name: WorkflowName;
  ownerId: string;
  status: WorkflowStatus;
  input: unknown;
  result?: unknown;
  error?: string;
  stepsDone: number;
  stepsTotal: number;
  createdAt: Date;
  updatedAt: Date;
  completedAt?: Date;
  tree: WorkflowNodeView;
}

export type WorkflowSummary = Omit<WorkflowView, "tree" | "input" | "result">;
