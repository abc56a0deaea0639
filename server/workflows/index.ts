/**
 * server/workflows/ owns workflow definitions: the shapes (define.ts), the registry (here), the planner (plan.ts,
 * pure) and the reads (steps.ts, views.ts). Must not: write (start, advance and cancel are
 * server/lifecycle/workflows.ts), or import from server/lifecycle/, worker/ or http/.
 *
 * The workflow registry: every workflow clients may start, by name. The
 * `satisfies` clause makes a name in shared/workflows.ts without a definition
 * (or the other way round) a compile error.
 */
import type { WorkflowInput, WorkflowName } from "../../shared/workflows.js";
import type { WorkflowDefinition } from "./define.js";
import { exportsThenWebhook, exportThenEmail, notifyAll } from "./examples.js";

export const workflows = {
  export_then_email: exportThenEmail,
  exports_then_webhook: exportsThenWebhook,
  notify_all: notifyAll,
} satisfies { [N in WorkflowName]: WorkflowDefinition<WorkflowInput<N>> & { name: N } };

/**
 * Definitions added at run time, by name. Tests use it for shapes the shipped
 * workflows do not have; such a workflow is started with startWorkflow, not
 * workflows.start, and must be registered in every process that runs its steps.
 */
const extra = new Map<string, WorkflowDefinition<never>>();

export function registerWorkflow<I>(definition: WorkflowDefinition<I>): void {
  extra.set(definition.name, definition as unknown as WorkflowDefinition<never>);
}

/** A workflow's definition; its input type is known only to its own code. */
export function workflowFor(name: string): WorkflowDefinition<never> | undefined {
  const shipped = (workflows as unknown as Record<string, WorkflowDefinition<never>>)[name];
  return Object.hasOwn(workflows, name) ? shipped : extra.get(name);
}
