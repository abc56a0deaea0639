/** What workflows.get and workflows.list return: a workflow's state and its step tree. */
import type pg from "pg";
import type { JobType } from "../../shared/jobs.js";
import type {
  StepStatus,
  WorkflowName,
  WorkflowNodeView,
  WorkflowStatus,
  WorkflowSummary,
  WorkflowView,
} from "../../shared/workflows.js";
import { ownerScope } from "../auth/scope.js";
import type { AuthUser } from "../auth/tokens.js";
import { WorkflowNotFoundError } from "../errors.js";
import { encodePageCursor } from "../jobs/queries.js";
import { children, type Node } from "./define.js";
import { readSteps, type StepRow, treeOf, type WorkflowRow } from "./steps.js";

/** Stored "running" reads as pending until one of its steps has started. */
function reportedStatus(row: WorkflowRow, anyStarted: boolean): WorkflowStatus {
  return row.status === "running" && !anyStarted ? "pending" : row.status;
}

function summary(row: WorkflowRow, anyStarted: boolean): WorkflowSummary {
  return {
    id: row.id,
    name: row.name as WorkflowName,
    ownerId: row.owner_id,
    status: reportedStatus(row, anyStarted),
    ...(row.error ? { error: row.error } : {}),
    stepsDone: row.steps_done,
    stepsTotal: row.steps_total,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.completed_at ? { completedAt: row.completed_at } : {}),
  };
}

function stepStatus(step: StepRow | undefined): StepStatus {
  if (!step || step.status === "waiting") return "waiting";
  if (step.status === "skipped") return "skipped";
  if (step.status === "unbuildable") return "failed";
  return step.job_status ?? "failed";
}

/** A shape's status, from its children's. */
function shapeStatus(statuses: StepStatus[]): StepStatus {
  if (statuses.some((s) => s === "failed" || s === "cancelled")) return "failed";
  if (statuses.every((s) => s === "succeeded")) return "succeeded";
  if (statuses.every((s) => s === "skipped")) return "skipped";
  if (statuses.every((s) => s === "waiting" || s === "skipped")) return "waiting";
  return "running";
}

function nodeView(node: Node, path: string, steps: Map<string, StepRow>, callback = false): WorkflowNodeView {
  const flag = callback ? { callback: true } : {};
  if (node.kind === "task") {
    const step = steps.get(path);
    const error = step?.status === "unbuildable" ? step.error : step?.job_error;
    return {
      path,
      kind: "task",
      label: node.label,
      status: stepStatus(step),
      jobType: node.type as JobType,
      ...(step?.job_id && step.status !== "skipped" ? { jobId: step.job_id } : {}),
      ...(error ? { error } : {}),
      ...flag,
      children: [],
    };
  }
  const kids = children(node).map((child, i, all) =>
    nodeView(child, `${path}.${i}`, steps, node.kind === "chord" && i === all.length - 1),
  );
  const label =
    node.kind === "chord"
      ? `chord of ${kids.length - 1}${node.runOnFailure ? " (callback runs on failures too)" : ""}`
      : `${node.kind} of ${kids.length}`;
  return { path, kind: node.kind, label, status: shapeStatus(kids.map((k) => k.status)), ...flag, children: kids };
}

/**
 * The tree as its definition shapes it; a workflow whose definition this
 * process lacks (removed, or a newer deploy's) still shows its steps, flat.
 */
function treeView(row: WorkflowRow, steps: StepRow[]): WorkflowNodeView {
  const byPath = new Map(steps.map((s) => [s.path, s]));
  try {
    return nodeView(treeOf(row), "0", byPath);
  } catch {
    const children = steps
      .sort((a, b) => a.path.localeCompare(b.path, "en", { numeric: true }))
      .map((step) =>
        nodeView(
          { kind: "task", type: step.job_type as JobType, label: step.job_type, build: () => undefined },
          step.path,
          byPath,
        ),
      );
    return {
      path: "0",
      kind: "group",
      label: `steps of ${row.name} (its definition is not in this server)`,
      status: shapeStatus(children.map((c) => c.status)),
      children,
    };
  }
}

export async function getWorkflow(pool: pg.Pool, user: AuthUser, workflowId: string): Promise<WorkflowView> {
  const { rows } = await pool.query<WorkflowRow>(
    "SELECT * FROM workflows WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2::uuid)",
    [workflowId, ownerScope(user) ?? null],
  );
  const row = rows[0];
  if (!row) throw new WorkflowNotFoundError(workflowId);
  const steps = await readSteps(pool, workflowId);
  const anyStarted = steps.some((s) => s.job_status !== null && s.job_status !== "pending");
  return {
    ...summary(row, anyStarted),
    input: row.input,
    ...(row.result !== null ? { result: row.result } : {}),
    tree: treeView(row, steps),
  };
}

/**
 * The workflows list's statement, with each filter only when given. The pool
 * plans every statement once for any parameters (server/db/pool.ts), so
 * optional filters written "$n IS NULL OR ..." would get a plan that reads
 * every owner's workflows and sorts them, page after page.
 */
export function listWorkflowsQuery(
  owner: string | undefined,
  page: { status?: WorkflowStatus | undefined; cursor?: { at: Date; id: string } | undefined; limit: number },
): { text: string; values: unknown[] } {
  const values: unknown[] = [];
  const param = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const where: string[] = [];
  if (owner !== undefined) where.push(`w.owner_id = ${param(owner)}::uuid`);
  // "pending" and "running" are two readings of stored "running": whether a step has started.
  const { status } = page;
  if (status) where.push(`w.status = ${param(status === "pending" ? "running" : status)}`);
  if (page.cursor) {
    where.push(`(w.created_at, w.id) < (${param(page.cursor.at)}::timestamptz, ${param(page.cursor.id)}::uuid)`);
  }
  const started = status === "pending" || status === "running" ? `WHERE any_started = ${status === "running"}` : "";
  return {
    text: `SELECT * FROM (
             SELECT w.*, EXISTS (SELECT 1 FROM jobs j WHERE j.workflow_id = w.id AND j.status <> 'pending') AS any_started
               FROM workflows w
              ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
           ) w
           ${started}
           ORDER BY created_at DESC, id DESC
           LIMIT ${param(page.limit + 1)}`,
    values,
  };
}

export async function listWorkflows(
  pool: pg.Pool,
  user: AuthUser,
  page: { status?: WorkflowStatus | undefined; cursor?: { at: Date; id: string } | undefined; limit: number },
): Promise<{ items: WorkflowSummary[]; nextCursor: string | null }> {
  const { rows } = await pool.query<WorkflowRow & { any_started: boolean }>(listWorkflowsQuery(ownerScope(user), page));
  const last = rows.length > page.limit ? rows[page.limit - 1] : undefined;
  const items = rows.slice(0, page.limit).map((row) => summary(row, row.any_started));
  return { items, nextCursor: last ? encodePageCursor(last.created_at, last.id) : null };
}
