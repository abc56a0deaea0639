/**
 * Workflows in the database: start, advance, cancel, and the hook every
 * settling job transition of a step goes through.
 *
 * Exactly-once joins: a step's job settles (succeeds, fails into the
 * dead-letter queue, is cancelled or requeued) only inside changeStep, which
 * first locks the workflow's row, then writes the job's transition, then
 * advances the workflow, all in one transaction. The steps that transition
 * releases are enqueued in that same transaction, so two members finishing at
 * once in different processes take turns on the lock, and the second sees the
 * first's jobs; a completion that is retried finds its job already settled
 * (the fencing guard matches nothing) and releases nothing.
 *
 * Lock order is always workflow, then job, which is why changeStep takes the
 * workflow lock before its change touches the job. (A batched start locks
 * jobs in the planner's order; should Postgres still pick one of these
 * transactions as a deadlock victim, withTransaction runs it again.)
 */
import { randomUUID } from "node:crypto";
import type pg from "pg";
import type { JobStatus } from "../../shared/states.js";
import type { WorkflowStatus } from "../../shared/workflows.js";
import { withTransaction } from "../db/pool.js";
import { CANCEL_CHANNEL, type JobRow } from "../db/schema.js";
import { FieldIssuesError, WorkflowConflictError, WorkflowNotFoundError } from "../errors.js";
import { buildTree, type Node, tasksOf, WorkflowShapeError } from "../workflows/define.js";
import { workflowFor } from "../workflows/index.js";
import { plan, type TaskState } from "../workflows/plan.js";
import { countDone, readSteps, taskStates, treeOf, type WorkflowRow } from "../workflows/steps.js";
import { ringAfter } from "./doorbell.js";
import { insertStepJobs } from "./enqueue.js";
import { applyTransition, type TransitionSpec } from "./transitions.js";

/**
 * Appends the workflow's event to the job event stream (the operation rings
 * the doorbell once it has committed). `status` is what clients see: pending at start.
 */
async function recordWorkflowEvent(
  client: pg.PoolClient,
  workflow: WorkflowRow,
  status: WorkflowStatus = workflow.status,
): Promise<void> {
  const progress = {
    percent: workflow.steps_total === 0 ? 100 : Math.round((100 * workflow.steps_done) / workflow.steps_total),
    stepsDone: workflow.steps_done,
    stepsTotal: workflow.steps_total,
    name: workflow.name,
  };
  await client.query(
    `INSERT INTO job_events (workflow_id, owner_id, job_type, kind, status, attempt, progress, error)
     VALUES ($1, $2, 'workflow', 'workflow', $3, 0, $4::jsonb, $5)`,
    [workflow.id, workflow.owner_id, status, JSON.stringify(progress), workflow.error],
  );
}

async function lockWorkflow(client: pg.PoolClient, workflowId: string, ownerId?: string) {
  const { rows } = await client.query<WorkflowRow>(
    "SELECT * FROM workflows WHERE id = $1 AND ($2::uuid IS NULL OR owner_id = $2::uuid) FOR UPDATE",
    [workflowId, ownerId ?? null],
  );
  return rows[0];
}

/**
 * Cancels a job in the caller's transaction (jobs.cancel, and a workflow's
 * steps): its queued graphile job is removed, and a running attempt is told to
 * stop through a NOTIFY that reaches whichever worker process runs it
 * (server/worker/cancellations.ts). Undefined when its state is not in `from`.
 */
export async function cancelJobIn(
  client: pg.PoolClient,
  jobId: string,
  from: JobStatus[],
): Promise<JobRow | undefined> {
  const cancelled = await applyTransition(client, {
    jobId,
    to: "cancelled",
    from,
    set: { completed_at: "now()" },
    event: {},
  });
  if (cancelled) {
    await client.query("SELECT graphile_worker.remove_job($1), pg_notify($2, $1)", [jobId, CANCEL_CHANNEL]);
  }
  return cancelled;
}

/** Sets `status` (and, per step, `job_id` or `error`) of the listed steps, in one statement. */
async function updateSteps(
  client: pg.PoolClient,
  workflowId: string,
  status: "enqueued" | "unbuildable",
  steps: { path: string; jobId?: string; error?: string }[],
): Promise<void> {
  if (steps.length === 0) return;
  await client.query(
    `UPDATE workflow_steps s SET status = $2, job_id = coalesce(x.job_id, s.job_id), error = coalesce(x.error, s.error)
       FROM unnest($3::text[], $4::uuid[], $5::text[]) AS x(path, job_id, error)
      WHERE s.workflow_id = $1 AND s.path = x.path`,
    [
      workflowId,
      status,
      steps.map((step) => step.path),
      steps.map((step) => step.jobId ?? null),
      steps.map((step) => step.error ?? null),
    ],
  );
}

/** The task states a resume would plan with: skipped steps wait for their turn again. */
function resumedStates(states: Map<string, TaskState>): Map<string, TaskState> {
  return new Map([...states].map(([path, state]) => [path, state.state === "skipped" ? { state: "waiting" } : state]));
}

/**
 * Brings a workflow up to date with its steps: enqueues the steps whose turn
 * has come, records steps that cannot be built, and ends the workflow when
 * its root has succeeded or failed. The caller holds the workflow's lock and
 * passes its row.
 *
 * With `resume` (a failed step was requeued), a failed workflow runs again,
 * unless it would fail at once (another step is still failed): then it stays
 * failed until that one is requeued too, and the requeued step just runs.
 */
async function advanceWorkflow(
  client: pg.PoolClient,
  workflow: WorkflowRow,
  options: { resume?: boolean } = {},
): Promise<WorkflowRow> {
  const workflowId = workflow.id;
  const stored = { status: workflow.status, done: workflow.steps_done };
  let states = taskStates(await readSteps(client, workflowId));
  let tree: Node | undefined;
  try {
    tree = treeOf(workflow);
  } catch (error) {
    if (workflow.status === "running") {
      workflow.status = "failed";
      workflow.error = (error as Error).message;
    }
  }

  if (tree && options.resume && workflow.status === "failed") {
    const resumed = resumedStates(states);
    if (plan(tree, workflow.input, resumed).outcome.s !== "failed") {
      await client.query(
        "UPDATE workflow_steps SET status = 'waiting', job_id = NULL WHERE workflow_id = $1 AND status = 'skipped'",
        [workflowId],
      );
      states = resumed;
      workflow.status = "running";
      workflow.error = null;
    }
  }

  if (tree && workflow.status === "running") {
    const next = plan(tree, workflow.input, states);
    await updateSteps(client, workflowId, "unbuildable", next.unbuildable);
    for (const { path, error } of next.unbuildable) states.set(path, { state: "unbuildable", error });
    if (next.outcome.s === "failed") {
      workflow.status = "failed";
      workflow.error = next.outcome.error;
    } else {
      // Released steps are enqueued here, in the transaction that released them.
      const started = next.start.map((step) => ({ ...step, id: randomUUID() }));
      await insertStepJobs(client, workflow.owner_id, workflowId, started);
      await updateSteps(
        client,
        workflowId,
        "enqueued",
        started.map((step) => ({ path: step.path, jobId: step.id })),
      );
      if (next.outcome.s === "ok") {
        workflow.status = "succeeded";
        workflow.result = next.outcome.value ?? null;
      }
    }
    // An ended workflow starts nothing more (a failure a chord took may have left steps behind).
    if (workflow.status !== "running") await skipRemaining(client, workflowId);
  }

  // Steps started or skipped just now were not done before either: the states read above still count.
  workflow.steps_done = countDone(states);
  if (workflow.status === stored.status && workflow.steps_done === stored.done) return workflow;
  await client.query(
    `UPDATE workflows SET status = $2, steps_done = $3, result = $4::jsonb, error = $5, updated_at = now(),
            completed_at = CASE WHEN $2 = 'running' THEN NULL WHEN status = 'running' THEN now() ELSE completed_at END
      WHERE id = $1`,
    [
      workflowId,
      workflow.status,
      workflow.steps_done,
      workflow.result === undefined ? null : JSON.stringify(workflow.result),
      workflow.error,
    ],
  );
  await recordWorkflowEvent(client, workflow);
  return workflow;
}

/**
 * An ended workflow stops: steps whose turn has not come are skipped, and
 * enqueued steps that have not started are cancelled and skipped (so a resume
 * enqueues them afresh). Steps already started (running, or waiting to retry)
 * finish on their own; nothing follows them.
 */
async function skipRemaining(client: pg.PoolClient, workflowId: string): Promise<void> {
  const { rows } = await client.query<{ path: string; job_id: string }>(
    `SELECT s.path, s.job_id FROM workflow_steps s JOIN jobs j ON j.id = s.job_id
      WHERE s.workflow_id = $1 AND s.status = 'enqueued' AND j.status = 'pending'
      ORDER BY j.id`,
    [workflowId],
  );
  const cancelled: string[] = [];
  // A step a worker started meanwhile is not cancelled, and so not skipped: its outcome still counts.
  for (const { path, job_id } of rows) if (await cancelJobIn(client, job_id, ["pending"])) cancelled.push(path);
  await client.query(
    `UPDATE workflow_steps SET status = 'skipped'
      WHERE workflow_id = $1 AND (status = 'waiting' OR path = ANY($2::text[]))`,
    [workflowId, cancelled],
  );
}

/**
 * Runs `change`, a transition of one job, inside the caller's transaction. If
 * the job is a workflow step, the workflow is locked first and advanced after
 * a change that happened (`change` returned a row). `resume`: the change
 * requeued a failed step. `workflowId`: the job's, when the caller knows it
 * (null: not a step); otherwise it is looked up.
 */
export async function changeStep<T extends JobRow | undefined>(
  client: pg.PoolClient,
  jobId: string,
  change: () => Promise<T>,
  options: { resume?: boolean; workflowId?: string | null } = {},
): Promise<T> {
  let workflowId = options.workflowId;
  if (workflowId === undefined) {
    const { rows } = await client.query<{ workflow_id: string | null }>("SELECT workflow_id FROM jobs WHERE id = $1", [
      jobId,
    ]);
    workflowId = rows[0]?.workflow_id ?? null;
  }
  const workflow = workflowId ? await lockWorkflow(client, workflowId) : undefined;
  // A cancelled workflow's step would run with nothing to follow it.
  if (workflow && options.resume && workflow.status === "cancelled") {
    throw new WorkflowConflictError(workflow.id, "cancelled", "requeue a step of");
  }
  const changed = await change();
  if (workflow && changed) await advanceWorkflow(client, workflow, options);
  return changed;
}

/**
 * A worker's write that settles one job (success, or failure into the
 * dead-letter queue): one statement for a plain job; for a workflow's step, a
 * transaction with its workflow (changeStep).
 */
export function settleJob(
  pool: pg.Pool,
  job: Pick<JobRow, "id" | "workflow_id">,
  spec: TransitionSpec,
): Promise<JobRow | undefined> {
  const workflowId = job.workflow_id;
  if (!workflowId) return ringAfter(pool, applyTransition(pool, spec));
  return ringAfter(
    pool,
    withTransaction(pool, (client) => changeStep(client, job.id, () => applyTransition(client, spec), { workflowId })),
  );
}

/**
 * Starts a declared workflow for `ownerId` and returns its id: the workflow,
 * its steps and its first jobs are written in one transaction.
 */
export async function startWorkflow(pool: pg.Pool, ownerId: string, name: string, rawInput: unknown): Promise<string> {
  const definition = workflowFor(name);
  if (!definition) {
    throw new FieldIssuesError([{ code: "custom", path: ["name"], message: `no workflow is named "${name}"` }]);
  }
  const parsed = definition.input.safeParse(rawInput);
  if (!parsed.success) {
    throw new FieldIssuesError(
      parsed.error.issues.map((issue) => ({
        code: "custom" as const,
        path: ["input", ...issue.path.map((p) => (typeof p === "symbol" ? String(p) : p))],
        message: issue.message,
      })),
    );
  }
  const input = parsed.data;
  const problem = await definition.checkForOwner?.(pool, ownerId, input);
  if (problem) {
    throw new FieldIssuesError([{ code: "custom", path: ["input", problem.field], message: problem.message }]);
  }
  let tree: Node;
  try {
    tree = buildTree(definition, input);
  } catch (error) {
    if (!(error instanceof WorkflowShapeError)) throw error;
    throw new FieldIssuesError([{ code: "custom", path: ["input"], message: error.message }]);
  }
  const tasks = tasksOf(tree);
  const id = randomUUID();
  const write = withTransaction(pool, async (client) => {
    const { rows } = await client.query<WorkflowRow>(
      `INSERT INTO workflows (id, owner_id, name, input, status, steps_total)
       VALUES ($1, $2, $3, $4::jsonb, 'running', $5) RETURNING *`,
      [id, ownerId, name, JSON.stringify(input), tasks.length],
    );
    await client.query(
      `INSERT INTO workflow_steps (workflow_id, path, job_type)
       SELECT $1, path, job_type FROM unnest($2::text[], $3::text[]) AS s(path, job_type)`,
      [id, tasks.map((t) => t.path), tasks.map((t) => t.node.type)],
    );
    const workflow = rows[0] as WorkflowRow;
    await recordWorkflowEvent(client, workflow, "pending");
    const started = await advanceWorkflow(client, workflow);
    // A first step whose payload the input cannot build is the input's fault: refuse it, start nothing.
    if (started.status === "failed") {
      throw new FieldIssuesError([{ code: "custom", path: ["input"], message: started.error ?? "cannot start" }]);
    }
  });
  await ringAfter(pool, write);
  return id;
}

/**
 * Cancels a workflow that has not ended, and with it every step: jobs not yet
 * finished are cancelled (a running attempt is told to stop) and steps whose
 * turn has not come are skipped.
 */
export async function cancelWorkflow(pool: pg.Pool, ownerId: string | undefined, workflowId: string): Promise<void> {
  const write = withTransaction(pool, async (client) => {
    const workflow = await lockWorkflow(client, workflowId, ownerId);
    if (!workflow) throw new WorkflowNotFoundError(workflowId);
    if (workflow.status !== "running") throw new WorkflowConflictError(workflowId, workflow.status, "cancel");
    const { rows } = await client.query<{ id: string }>(
      "SELECT id FROM jobs WHERE workflow_id = $1 AND status IN ('pending', 'retrying', 'running') ORDER BY id",
      [workflowId],
    );
    for (const { id } of rows) await cancelJobIn(client, id, ["pending", "retrying", "running"]);
    await client.query("UPDATE workflow_steps SET status = 'skipped' WHERE workflow_id = $1 AND status = 'waiting'", [
      workflowId,
    ]);
    workflow.status = "cancelled";
    workflow.error = "Cancelled";
    workflow.steps_done = countDone(taskStates(await readSteps(client, workflowId)));
    await client.query(
      `UPDATE workflows SET status = 'cancelled', error = $2, steps_done = $3, updated_at = now(), completed_at = now()
        WHERE id = $1`,
      [workflowId, workflow.error, workflow.steps_done],
    );
    await recordWorkflowEvent(client, workflow);
  });
  await ringAfter(pool, write);
}
