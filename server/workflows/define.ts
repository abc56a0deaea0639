/**
 * How a workflow is declared: a typed input and a tree of steps built from
 * four shapes. The types follow results through the tree, so a step's payload
 * builder sees the previous step's result with its real type:
 *
 *   task(type, build)       one job; `build` makes its payload from the input
 *                           and the previous result (checked by the job type's
 *                           schema when the step is enqueued)
 *   chain(a, b, ...)        one after another; each gets the one before's result
 *   group(a, b, ...)        in parallel; the result is their results, in order
 *   chord([a, b], cb, opt)  a group, then `cb` with the group's results; with
 *                           { runOnFailure: true } `cb` also runs when members
 *                           failed, and gets each member's outcome instead
 *
 * The tree is built from the workflow's input when it starts and rebuilt from
 * the stored input whenever a step settles, so `steps` must be deterministic.
 */
import type pg from "pg";
import type { z } from "zod";
import type { JobPayloadInput, JobResult, JobType } from "../../shared/jobs.js";

/** The documented limits: nesting depth of shapes, members per shape, and tasks per workflow. */
export const MAX_DEPTH = 4;
export const MAX_WIDTH = 20;
export const MAX_TASKS = 100;

export interface BuildContext<I, P> {
  input: I;
  /** The previous step's result (a group's or chord member's outcomes for a callback); undefined for the first. */
  previous: P;
}

/** A member's outcome, as a chord callback with `runOnFailure` receives it. */
export type Outcome<R> = { ok: true; result: R } | { ok: false; error: string };

export type Node =
  | { kind: "task"; type: JobType; label: string; build: (ctx: BuildContext<unknown, unknown>) => unknown }
  | { kind: "chain"; steps: Node[] }
  | { kind: "group"; members: Node[] }
  | { kind: "chord"; members: Node[]; callback: Node; runOnFailure: boolean };

/** A step taking the previous result P and producing R, in a workflow with input I. */
export interface Step<I, P, R> {
  readonly node: Node;
  /** Carries the types only; never set. */
  readonly _types?: (input: I, previous: P) => R;
}

type Results<I, P, S extends readonly Step<I, P, unknown>[]> = {
  -readonly [K in keyof S]: S[K] extends Step<I, P, infer R> ? R : never;
};
type Outcomes<I, P, S extends readonly Step<I, P, unknown>[]> = {
  -readonly [K in keyof S]: S[K] extends Step<I, P, infer R> ? Outcome<R> : never;
};

/** The shapes, bound to one workflow's input type. */
export interface Shapes<I> {
  task<T extends JobType, P = unknown>(
    type: T,
    build: (ctx: BuildContext<I, P>) => JobPayloadInput<T>,
    options?: { label?: string },
  ): Step<I, P, JobResult<T>>;
  chain<P, R1, R2>(a: Step<I, P, R1>, b: Step<I, R1, R2>): Step<I, P, R2>;
  chain<P, R1, R2, R3>(a: Step<I, P, R1>, b: Step<I, R1, R2>, c: Step<I, R2, R3>): Step<I, P, R3>;
  chain<P, R1, R2, R3, R4>(
    a: Step<I, P, R1>,
    b: Step<I, R1, R2>,
    c: Step<I, R2, R3>,
    d: Step<I, R3, R4>,
  ): Step<I, P, R4>;
  group<P, const S extends readonly Step<I, P, unknown>[]>(...members: S): Step<I, P, Results<I, P, S>>;
  /** A group of any length built from a list (say, one step per recipient). */
  groupOf<P, R>(members: Step<I, P, R>[]): Step<I, P, R[]>;
  chord<P, const S extends readonly Step<I, P, unknown>[], R>(
    members: S,
    callback: Step<I, Results<I, P, S>, R>,
  ): Step<I, P, R>;
  chord<P, const S extends readonly Step<I, P, unknown>[], R>(
    members: S,
    callback: Step<I, Outcomes<I, P, S>, R>,
    options: { runOnFailure: true },
  ): Step<I, P, R>;
}

const shapes: Shapes<unknown> = {
  task: (type, build, options) => ({
    node: { kind: "task", type, label: options?.label ?? type, build: build as (ctx: unknown) => unknown },
  }),
  chain: (...steps: Step<unknown, unknown, unknown>[]) => ({
    node: { kind: "chain", steps: steps.map((s) => s.node) },
  }),
  group: (...members) => ({ node: { kind: "group", members: members.map((s) => s.node) } }),
  groupOf: (members) => ({ node: { kind: "group", members: members.map((s) => s.node) } }),
  chord: (
    members: readonly Step<unknown, unknown, unknown>[],
    callback: Step<unknown, never, unknown>,
    options?: { runOnFailure: true },
  ) => ({
    node: {
      kind: "chord",
      members: members.map((s) => s.node),
      callback: callback.node,
      runOnFailure: options?.runOnFailure === true,
    },
  }),
} as Shapes<unknown>;

export interface WorkflowDefinition<I = unknown> {
  /** The name clients start it by (shared/workflows.ts lists the shipped ones). */
  name: string;
  description: string;
  /** The input schema (shared/workflows.ts), so clients type workflows.start. */
  input: z.ZodType<I>;
  /**
   * Checks at start that the input may be used by this owner (a webhook's
   * endpoint must be theirs). Returns a message for the named input field.
   */
  checkForOwner?: (pool: pg.Pool, ownerId: string, input: I) => Promise<{ field: string; message: string } | undefined>;
  /** The step tree for an input. */
  steps: (s: Shapes<I>, input: I) => Step<I, undefined, unknown>;
}

export function defineWorkflow<I, const N extends string>(
  definition: WorkflowDefinition<I> & { name: N },
): WorkflowDefinition<I> & { name: N } {
  return definition;
}

/** The tree of a workflow for an input, checked against the limits. */
export function buildTree<I>(definition: WorkflowDefinition<I>, input: I): Node {
  const root = definition.steps(shapes as Shapes<I>, input).node;
  checkLimits(root);
  return root;
}

export class WorkflowShapeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "WorkflowShapeError";
  }
}

export function children(node: Node): Node[] {
  switch (node.kind) {
    case "task":
      return [];
    case "chain":
      return node.steps;
    case "group":
      return node.members;
    case "chord":
      return [...node.members, node.callback];
  }
}

function checkLimits(root: Node): void {
  let tasks = 0;
  const visit = (node: Node, depth: number) => {
    if (node.kind === "task") {
      tasks++;
      return;
    }
    if (depth > MAX_DEPTH) throw new WorkflowShapeError(`Workflow shapes nest deeper than ${MAX_DEPTH}`);
    const members = node.kind === "chain" ? node.steps : node.members;
    if (members.length === 0) throw new WorkflowShapeError(`A ${node.kind} needs at least one step`);
    if (members.length > MAX_WIDTH) throw new WorkflowShapeError(`A ${node.kind} has more than ${MAX_WIDTH} steps`);
    for (const child of children(node)) visit(child, depth + 1);
  };
  visit(root, 1);
  if (tasks > MAX_TASKS) throw new WorkflowShapeError(`A workflow has more than ${MAX_TASKS} tasks`);
}

/** Every task of the tree with its path ("0.1.2"), in tree order. */
export function tasksOf(root: Node): { path: string; node: Extract<Node, { kind: "task" }> }[] {
  const out: { path: string; node: Extract<Node, { kind: "task" }> }[] = [];
  const visit = (node: Node, path: string) => {
    if (node.kind === "task") out.push({ path, node });
    else for (const [i, child] of children(node).entries()) visit(child, `${path}.${i}`);
  };
  visit(root, "0");
  return out;
}
