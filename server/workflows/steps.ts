/**
 * A stored workflow and its steps, as read back: the rows, each step's job
 * state, and the tree rebuilt from the definition. Reads only; every write is
 * in server/lifecycle/workflows.ts.
 */
import type pg from "pg";
import { isTerminal } from "../../shared/states.js";
import type { WorkflowStatus } from "../../shared/workflows.js";
import type { JobRow } from "../db/schema.js";
import { buildTree, type Node } from "./define.js";
import { workflowFor } from "./index.js";
import type { TaskState } from "./plan.js";

/** A workflow row as stored. */
export interface WorkflowRow {
  id: string;
  owner_id: string;
  name: string;
  input: unknown;
  status: Exclude<WorkflowStatus, "pending">;
  result: unknown;
  error: string | null;
  steps_total: number;
  steps_done: number;
  created_at: Date;
  updated_at: Date;
  completed_at: Date | null;
}

/** A task step with its job's state, as the planner and the views read it. */
export interface StepRow {
  path: string;
  job_type: string;
  status: "waiting" | "enqueued" | "unbuildable" | "skipped";
  job_id: string | null;
  error: string | null;
  job_status: JobRow["status"] | null;
  job_result: unknown;
  job_error: string | null;
}

export async function readSteps(db: pg.Pool | pg.PoolClient, workflowId: string): Promise<StepRow[]> {
  const { rows } = await db.query<StepRow>(
    `SELECT s.path, s.job_type, s.status, s.job_id, s.error,
            j.status AS job_status, j.result AS job_result, j.error AS job_error
       FROM workflow_steps s LEFT JOIN jobs j ON j.id = s.job_id
      WHERE s.workflow_id = $1`,
    [workflowId],
  );
  return rows;
}

export function taskStates(steps: StepRow[]): Map<string, TaskState> {
  const states = new Map<string, TaskState>();
  for (const step of steps) {
    if (step.status === "waiting" || step.status === "skipped") states.set(step.path, { state: step.status });
    else if (step.status === "unbuildable") states.set(step.path, { state: "unbuildable", error: step.error ?? "" });
    else if (!step.job_status) states.set(step.path, { state: "job", status: "failed", error: "its job was deleted" });
    else {
      states.set(step.path, {
        state: "job",
        status: step.job_status,
        result: step.job_result,
        error: step.job_error ?? undefined,
      });
    }
  }
  return states;
}

/** The tree of a stored workflow, rebuilt from its definition and input. */
export function treeOf(workflow: Pick<WorkflowRow, "name" | "input">): Node {
  const definition = workflowFor(workflow.name);
  if (!definition) throw new Error(`Workflow "${workflow.name}" is not declared in this process`);
  return buildTree(definition, workflow.input as never);
}

/** Steps that count as done: their job settled, or they could not be built. */
export function countDone(states: Map<string, TaskState>): number {
  let done = 0;
  for (const state of states.values()) {
    if (state.state === "unbuildable") done++;
    else if (state.state === "job" && isTerminal(state.status)) done++;
  }
  return done;
}
