// The workflow rules (server/workflows/plan.ts), run round by round the way the
// engine runs them: each round's started steps settle with a scripted outcome,
// then the planner is asked again. Shapes, nesting, result passing with schema
// checks, and the failure rules.
import { describe, expect, test } from "vitest";
import { z } from "zod";
import {
  buildTree,
  defineWorkflow,
  MAX_WIDTH,
  type Shapes,
  WorkflowShapeError,
} from "../../server/workflows/define.js";
import { plan, type TaskState } from "../../server/workflows/plan.js";
import type { JobResult } from "../../shared/jobs.js";

const input = z.object({ to: z.email() });
type Input = z.output<typeof input>;

const mail = (id: string): JobResult<"email"> => ({ messageId: id, accepted: [], response: "250 ok" });

/** Runs a tree to its end; `outcome` says how each started step's job ends. */
function run(
  steps: (s: Shapes<Input>) => ReturnType<Parameters<typeof defineWorkflow<Input, "t">>[0]["steps"]>,
  outcome: (path: string, payload: Record<string, unknown>) => { ok: true; result: unknown } | { ok: false } = (
    path,
  ) => ({ ok: true, result: mail(path) }),
) {
  const tree = buildTree(defineWorkflow({ name: "t", description: "", input, steps }), { to: "a@example.com" });
  const states = new Map<string, TaskState>();
  const rounds: string[][] = [];
  const payloads = new Map<string, Record<string, unknown>>();
  for (let round = 0; round < 20; round++) {
    const next = plan(tree, { to: "a@example.com" }, states);
    for (const { path, error } of next.unbuildable) states.set(path, { state: "unbuildable", error });
    if (next.outcome.s !== "running") return { outcome: next.outcome, rounds, payloads, states };
    rounds.push(next.start.map((s) => s.path));
    for (const { path, payload } of next.start) {
      payloads.set(path, payload as Record<string, unknown>);
      const ended = outcome(path, payload as Record<string, unknown>);
      states.set(
        path,
        ended.ok
          ? { state: "job", status: "succeeded", result: ended.result }
          : { state: "job", status: "failed", error: "refused" },
      );
    }
  }
  throw new Error("did not finish");
}

const email = (s: Shapes<Input>, label: string, body = (previous: unknown) => String(previous)) =>
  s.task("email", ({ input, previous }) => ({ to: input.to, subject: label, body: body(previous) }), { label });

describe("shapes", () => {
  test("a chain runs its steps one after another, each getting the one before's result", () => {
    const { outcome, rounds, payloads } = run((s) =>
      s.chain(
        email(s, "a"),
        s.task("email", ({ input, previous }) => ({ to: input.to, subject: "b", body: `after ${previous.messageId}` })),
        s.task("email", ({ input, previous }) => ({ to: input.to, subject: "c", body: `after ${previous.messageId}` })),
      ),
    );
    expect(rounds).toEqual([["0.0"], ["0.1"], ["0.2"]]);
    expect(payloads.get("0.1")?.body).toBe("after 0.0");
    expect(payloads.get("0.2")?.body).toBe("after 0.1");
    expect(outcome).toEqual({ s: "ok", value: mail("0.2") });
  });

  test("a group starts every member at once; its result is their results in order", () => {
    const { outcome, rounds } = run((s) => s.group(email(s, "a"), email(s, "b"), email(s, "c")));
    expect(rounds).toEqual([["0.0", "0.1", "0.2"]]);
    expect(outcome).toEqual({ s: "ok", value: [mail("0.0"), mail("0.1"), mail("0.2")] });
  });

  test("a chord runs its callback once, after all members, with their results", () => {
    const { rounds, payloads } = run((s) =>
      s.chord(
        [email(s, "a"), email(s, "b")],
        s.task("email", ({ input, previous: [a, b] }) => ({
          to: input.to,
          subject: "cb",
          body: `${a.messageId}+${b.messageId}`,
        })),
      ),
    );
    expect(rounds).toEqual([["0.0", "0.1"], ["0.2"]]);
    expect(payloads.get("0.2")?.body).toBe("0.0+0.1");
  });

  test("shapes nest: a chain whose second step is a group of a task and a chain, then a chord", () => {
    const { outcome, rounds, payloads } = run((s) =>
      s.chain(
        email(s, "first"),
        s.group(
          email(s, "g1", (p) => `g1 got ${(p as { messageId: string }).messageId}`),
          s.chain(email(s, "c1"), email(s, "c2")),
        ),
        s.chord(
          [email(s, "m1", (p) => `m1 got ${(p as unknown[]).length}`), email(s, "m2")],
          s.task("email", ({ input, previous }) => ({ to: input.to, subject: "done", body: JSON.stringify(previous) })),
        ),
      ),
    );
    expect(rounds).toEqual([["0.0"], ["0.1.0", "0.1.1.0"], ["0.1.1.1"], ["0.2.0", "0.2.1"], ["0.2.2"]]);
    expect(payloads.get("0.1.0")?.body).toBe("g1 got 0.0");
    // The group's result is [g1's result, the inner chain's last result].
    expect(payloads.get("0.2.0")?.body).toBe("m1 got 2");
    expect(JSON.parse(String(payloads.get("0.2.2")?.body))).toEqual([mail("0.2.0"), mail("0.2.1")]);
    expect(outcome).toEqual({ s: "ok", value: mail("0.2.2") });
  });

  test("limits: more members than the documented width is refused when the tree is built", () => {
    const wide = defineWorkflow({
      name: "wide",
      description: "",
      input,
      steps: (s) => s.groupOf(Array.from({ length: MAX_WIDTH + 1 }, (_, i) => email(s, `m${i}`))),
    });
    expect(() => buildTree(wide, { to: "a@example.com" })).toThrow(WorkflowShapeError);
    const deep = defineWorkflow({
      name: "deep",
      description: "",
      input,
      steps: (s) =>
        s.chain(
          email(s, "a"),
          s.group(s.chain(email(s, "b"), s.group(s.chain(email(s, "c"), s.group(email(s, "d")))))),
        ),
    });
    expect(() => buildTree(deep, { to: "a@example.com" })).toThrow(/deeper than 4/);
  });
});

describe("result passing is checked by the step's schema", () => {
  test("a built payload that fails its schema fails the step, naming the field, and the chain stops", () => {
    const { outcome, rounds, states } = run((s) =>
      s.chain(
        email(s, "a"),
        s.task("email", ({ previous }) => ({ to: previous.messageId, subject: "b", body: "" })),
        email(s, "c"),
      ),
    );
    expect(rounds).toEqual([["0.0"]]);
    expect(outcome).toMatchObject({ s: "failed", error: expect.stringMatching(/step 0\.1 \(email\): payload\.to: /) });
    expect(states.get("0.1")).toMatchObject({ state: "unbuildable" });
    expect(states.has("0.2")).toBe(false);
  });

  test("a builder that throws fails its step with the message", () => {
    const { outcome } = run((s) =>
      s.task("email", () => {
        throw new Error("no address");
      }),
    );
    expect(outcome).toMatchObject({ s: "failed", error: expect.stringContaining("payload builder threw: no address") });
  });
});

describe("failure rules", () => {
  test("a failed step fails its chain; the steps after it never start", () => {
    const { outcome, rounds } = run(
      (s) => s.chain(email(s, "a"), email(s, "b"), email(s, "c")),
      (path) => (path === "0.1" ? { ok: false } : { ok: true, result: mail(path) }),
    );
    expect(rounds).toEqual([["0.0"], ["0.1"]]);
    expect(outcome).toMatchObject({ s: "failed", error: expect.stringContaining("step 0.1 (b) failed") });
  });

  test("a chord's callback does not run when a member failed", () => {
    const { outcome, rounds } = run(
      (s) => s.chord([email(s, "a"), email(s, "b")], email(s, "cb")),
      (path) => (path === "0.0" ? { ok: false } : { ok: true, result: mail(path) }),
    );
    expect(rounds).toEqual([["0.0", "0.1"]]);
    expect(outcome.s).toBe("failed");
  });

  test("with runOnFailure the callback runs once every member settled, with the failures listed", () => {
    const { outcome, rounds, payloads } = run(
      (s) =>
        s.chord(
          [email(s, "a"), s.chain(email(s, "b1"), email(s, "b2"))],
          s.task("email", ({ input, previous }) => ({
            to: input.to,
            subject: "report",
            body: JSON.stringify(previous),
          })),
          { runOnFailure: true },
        ),
      (path) => (path === "0.0" ? { ok: false } : { ok: true, result: mail(path) }),
    );
    expect(rounds).toEqual([["0.0", "0.1.0"], ["0.1.1"], ["0.2"]]);
    expect(JSON.parse(String(payloads.get("0.2")?.body))).toEqual([
      { ok: false, error: "step 0.0 (a) failed: refused" },
      { ok: true, result: mail("0.1.1") },
    ]);
    expect(outcome.s).toBe("ok");
  });

  test("a failed group starts nothing more inside it, even where a branch could go on", () => {
    const { outcome, rounds } = run(
      (s) => s.chain(s.group(email(s, "a"), s.chain(email(s, "b"), email(s, "c"))), email(s, "d")),
      (path) => (path === "0.0.0" ? { ok: false } : { ok: true, result: mail(path) }),
    );
    // a fails while b succeeds; c (after b) and d never start.
    expect(rounds).toEqual([["0.0.0", "0.0.1.0"]]);
    expect(outcome.s).toBe("failed");
  });

  test("a failure a runOnFailure chord takes stops its own branch; the other members still run to their ends", () => {
    const { outcome, rounds, payloads } = run(
      (s) =>
        s.chord(
          [s.chain(email(s, "a1"), email(s, "a2")), s.chain(email(s, "b1"), email(s, "b2"))],
          s.task("email", ({ input, previous }) => ({ to: input.to, subject: "cb", body: JSON.stringify(previous) })),
          { runOnFailure: true },
        ),
      (path) => (path === "0.0.0" ? { ok: false } : { ok: true, result: mail(path) }),
    );
    // a2 never starts (its chain failed); b2 does; the callback waits for it.
    expect(rounds).toEqual([["0.0.0", "0.1.0"], ["0.1.1"], ["0.2"]]);
    expect(JSON.parse(String(payloads.get("0.2")?.body))).toEqual([
      { ok: false, error: "step 0.0.0 (a1) failed: refused" },
      { ok: true, result: mail("0.1.1") },
    ]);
    expect(outcome.s).toBe("ok");
  });
});
