/**
 * The workflow rules, as a pure function: given the tree and each task's state,
 * which tasks start now (with their built, schema-checked payloads) and where
 * the workflow stands. server/lifecycle/workflows.ts calls it under the workflow's
 * lock whenever a step settles, and applies its answer in that transaction.
 *
 *   chain   runs its steps in order; a failed step fails the chain, and the
 *           steps after it never start
 *   group   starts every member at once; fails as soon as one member fails,
 *           succeeds with all results (in order) when all have succeeded
 *   chord   a group, then its callback with the group's results; with
 *           runOnFailure the callback waits for every member to settle and
 *           gets each one's outcome, failed or not
 *
 * A failure that no chord absorbs fails the workflow.
 */
import type { z } from "zod";
import { type JobType, jobRegistry } from "../../shared/jobs.js";
import type { JobStatus } from "../../shared/states.js";
import type { Node } from "./define.js";

export type TaskState =
  | { state: "waiting" }
  | { state: "skipped" }
  /** Its payload could not be built or failed its schema: it never became a job. */
  | { state: "unbuildable"; error: string }
  | { state: "job"; status: JobStatus; result?: unknown; error?: string | undefined };

export type Evaluation = { s: "running" } | { s: "ok"; value: unknown } | { s: "failed"; error: string };

export interface Plan {
  /** Tasks whose turn has come, with their checked payloads. */
  start: { path: string; type: JobType; payload: unknown }[];
  /** Tasks whose turn came but whose payload could not be built. */
  unbuildable: { path: string; error: string }[];
  outcome: Evaluation;
}

const RUNNING: Evaluation = { s: "running" };

function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `payload.${issue.path.join(".")}: ${issue.message}`).join("; ");
}

export function plan(root: Node, input: unknown, states: ReadonlyMap<string, TaskState>): Plan {
  const result: Plan = { start: [], unbuildable: [], outcome: RUNNING };

  const task = (node: Extract<Node, { kind: "task" }>, path: string, previous: unknown): Evaluation => {
    const state = states.get(path) ?? { state: "waiting" };
    switch (state.state) {
      case "skipped":
        return { s: "failed", error: `step ${path} (${node.label}) was skipped` };
      case "unbuildable":
        return { s: "failed", error: state.error };
      case "job":
        if (state.status === "succeeded") return { s: "ok", value: state.result };
        if (state.status === "failed" || state.status === "cancelled") {
          return { s: "failed", error: `step ${path} (${node.label}) ${state.status}: ${state.error ?? state.status}` };
        }
        return RUNNING;
      case "waiting": {
        let error: string;
        try {
          const parsed = jobRegistry[node.type].payload.safeParse(node.build({ input, previous }));
          if (parsed.success) {
            result.start.push({ path, type: node.type, payload: parsed.data });
            return RUNNING;
          }
          error = describeIssues(parsed.error);
        } catch (thrown) {
          error = `payload builder threw: ${(thrown as Error)?.message ?? String(thrown)}`;
        }
        const message = `step ${path} (${node.label}): ${error}`;
        result.unbuildable.push({ path, error: message });
        return { s: "failed", error: message };
      }
    }
  };

  /**
   * A group's members, then their join. A failed group starts nothing more:
   * steps this evaluation would have started inside it are taken back (they
   * were not enqueued yet), so its unfinished branches stop where they are.
   * Not in a chord that runs its callback on failures: there every member
   * goes on to its end, since the callback waits for all of them.
   */
  const group = (nodes: Node[], path: string, previous: unknown, runOnFailure = false) => {
    const mark = result.start.length;
    const each = nodes.map((child, i) => evaluate(child, `${path}.${i}`, previous));
    const joined = join(each);
    if (joined.s === "failed" && !runOnFailure) result.start.length = mark;
    return { joined, each };
  };

  const evaluate = (node: Node, path: string, previous: unknown): Evaluation => {
    switch (node.kind) {
      case "task":
        return task(node, path, previous);
      case "chain": {
        let value = previous;
        for (const [i, step] of node.steps.entries()) {
          const evaluation = evaluate(step, `${path}.${i}`, value);
          if (evaluation.s !== "ok") return evaluation;
          value = evaluation.value;
        }
        return { s: "ok", value };
      }
      case "group":
        return group(node.members, path, previous).joined;
      case "chord": {
        const { joined, each } = group(node.members, path, previous, node.runOnFailure);
        const callbackPath = `${path}.${node.members.length}`;
        if (!node.runOnFailure) return joined.s === "ok" ? evaluate(node.callback, callbackPath, joined.value) : joined;
        if (each.some((e) => e.s === "running")) return RUNNING;
        const outcomes = each.map((e) =>
          e.s === "ok" ? { ok: true, result: e.value } : { ok: false, error: (e as { error: string }).error },
        );
        return evaluate(node.callback, callbackPath, outcomes);
      }
    }
  };

  result.outcome = evaluate(root, "0", undefined);
  return result;
}

/** A group's evaluation: failed as soon as one member failed, ok once all are. */
function join(evaluations: Evaluation[]): Evaluation {
  const failed = evaluations.find((e) => e.s === "failed");
  if (failed) return failed;
  if (evaluations.some((e) => e.s === "running")) return RUNNING;
  return { s: "ok", value: evaluations.map((e) => (e as { value: unknown }).value) };
}
