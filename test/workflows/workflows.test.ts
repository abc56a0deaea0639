// Workflows end to end: started over tRPC, run by the real worker against a
// real SMTP server, a real webhook receiver and real exports; the state,
// progress and events clients see; failure, cancel and resume.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { z } from "zod";
import { startWorkflow } from "../../server/lifecycle/workflows.js";
import { defineWorkflow } from "../../server/workflows/define.js";
import { registerWorkflow } from "../../server/workflows/index.js";
import type { JobResult } from "../../shared/jobs.js";
import type { WorkflowView } from "../../shared/workflows.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { rejection } from "../support/fixtures.js";
import { startReceiver, type TestReceiver } from "../support/receiver.js";
import { startTestSmtpServer, type TestSmtpServer } from "../support/smtp.js";
import { record } from "../support/stream.js";

let smtp: TestSmtpServer;
let receiver: TestReceiver;
let app: TestApp;
let client: ReturnType<TestApp["client"]>;
let ownerId: string;

// A workflow with every shape nested, registered in this process (its worker runs the steps).
const nestedInput = z.object({ to: z.email(), reportTo: z.email() });
registerWorkflow(
  defineWorkflow({
    name: "test_nested",
    description: "every shape, nested",
    input: nestedInput,
    steps: (s) =>
      s.chain(
        s.task("email", ({ input }) => ({ to: input.to, subject: "first", body: "1" }), { label: "first" }),
        s.group(
          // A group's members cannot infer `previous` from the chain around them: name its type.
          s.task<"email", JobResult<"email">>("email", ({ input, previous }) => ({
            to: input.to,
            subject: "g1",
            body: previous.messageId,
          })),
          s.chain(
            s.task("email", ({ input }) => ({ to: input.to, subject: "c1", body: "c1" })),
            s.task("email", ({ input, previous }) => ({ to: input.to, subject: "c2", body: previous.messageId })),
          ),
        ),
        s.chord(
          [
            s.task("email", ({ input }) => ({ to: input.to, subject: "m1", body: "m1" })),
            s.task("email", ({ input }) => ({ to: input.to, subject: "m2", body: "m2" })),
          ],
          s.task("email", ({ input, previous: [m1, m2] }) => ({
            to: input.reportTo,
            subject: "joined",
            body: `${m1.messageId} ${m2.messageId}`,
          })),
        ),
      ),
  }),
);

// A chain whose second step builds a payload its schema refuses (the first step's id is no address).
registerWorkflow(
  defineWorkflow({
    name: "test_bad_payload",
    description: "second step's payload fails its schema",
    input: nestedInput,
    steps: (s) =>
      s.chain(
        s.task("email", ({ input }) => ({ to: input.to, subject: "ok", body: "" })),
        s.task("email", ({ previous }) => ({ to: previous.messageId, subject: "never", body: "" })),
      ),
  }),
);

// A chord of two members and a callback, for failures in both members.
registerWorkflow(
  defineWorkflow({
    name: "test_pair",
    description: "two members, then a callback",
    input: nestedInput,
    steps: (s) =>
      s.chord(
        [
          s.task("email", ({ input }) => ({ to: input.to, subject: "left", body: "l" })),
          s.task("email", ({ input }) => ({ to: input.reportTo, subject: "right", body: "r" })),
        ],
        s.task("email", () => ({ to: "pair-done@example.com", subject: "both", body: "b" })),
      ),
  }),
);

// Its first step's payload cannot be built from any input.
registerWorkflow(
  defineWorkflow({
    name: "test_bad_first",
    description: "first step's payload fails its schema",
    input: nestedInput,
    steps: (s) => s.task("email", ({ input }) => ({ to: `${input.to} and more`, subject: "s", body: "" })),
  }),
);

beforeAll(async () => {
  smtp = await startTestSmtpServer();
  receiver = await startReceiver();
  app = await startTestApp(
    { SMTP_URL: smtp.url, WEBHOOK_ALLOW_LOOPBACK: "true" },
    { tuning: { email: { backoff: { baseMs: 20, maxMs: 50 } } } },
  );
  const token = await app.token("flows@example.com");
  client = app.client(token);
  ownerId = (await client.auth.me.query())?.id ?? "";
});
afterAll(async () => {
  await app?.close();
  await receiver?.close();
  await smtp?.close();
});

const ended = (workflowId: string, timeoutMs = 20_000) =>
  eventually(async () => {
    const workflow = await client.workflows.get.query({ workflowId });
    return ["succeeded", "failed", "cancelled"].includes(workflow.status) ? workflow : undefined;
  }, timeoutMs);

const mailTo = (address: string) => smtp.messages.filter((m) => m.envelopeTo.includes(address));

function tasks(node: WorkflowView["tree"]): WorkflowView["tree"][] {
  return node.kind === "task" ? [node] : node.children.flatMap(tasks);
}

describe("the shipped examples", () => {
  test("chain: export, then email the download link, which downloads the export", async () => {
    const events = record(client);
    await events.started;
    const { workflowId } = await client.workflows.start.mutate({
      name: "export_then_email",
      input: { format: "csv", to: "chain@example.com" },
    });
    const workflow = await ended(workflowId);
    expect(workflow).toMatchObject({ status: "succeeded", stepsDone: 2, stepsTotal: 2, name: "export_then_email" });
    expect(workflow.tree).toMatchObject({ kind: "chain", status: "succeeded" });
    expect(tasks(workflow.tree).map((t) => [t.jobType, t.status])).toEqual([
      ["export", "succeeded"],
      ["email", "succeeded"],
    ]);
    const [mail] = mailTo("chain@example.com");
    const link = /Download: (\S+)/.exec(mail?.mail.text ?? "")?.[1] ?? "";
    const exportJob = await client.jobs.get.query({ jobId: tasks(workflow.tree)[0]?.jobId ?? "" });
    expect(link).toBe((exportJob.result as { downloadUrl: string }).downloadUrl);
    const download = await fetch(new URL(link, app.url));
    expect(download.status).toBe(200);
    expect((await download.text()).split("\n")[0]).toMatch(/^id,/);

    // The workflow's own events are on the job stream: it ran, progressed, and ended.
    const seen = await events.waitFor((all) =>
      all.some((e) => e.kind === "workflow" && e.jobId === workflowId && e.status === "succeeded"),
    );
    const mine = seen.filter((e) => e.kind === "workflow" && e.jobId === workflowId);
    expect(mine.map((e) => [e.status, e.progress?.stepsDone])).toEqual([
      ["pending", 0],
      ["running", 1],
      ["succeeded", 2],
    ]);
    expect(mine.at(-1)?.progress).toMatchObject({ percent: 100, stepsTotal: 2, name: "export_then_email" });
    events.stop();
  });

  test("chord: CSV and NDJSON exports in parallel, then one webhook listing both files", async () => {
    const endpoint = await client.webhooks.createEndpoint.mutate({ url: receiver.url("/files"), description: "files" });
    const { workflowId } = await client.workflows.start.mutate({
      name: "exports_then_webhook",
      input: { endpointId: endpoint.id },
    });
    const workflow = await ended(workflowId);
    expect(workflow).toMatchObject({ status: "succeeded", stepsDone: 3, stepsTotal: 3 });
    expect(workflow.tree).toMatchObject({ kind: "chord", children: [{}, {}, { callback: true, jobType: "webhook" }] });
    const deliveries = receiver.received.filter((r) => r.path === "/files");
    expect(deliveries).toHaveLength(1);
    const body = JSON.parse(deliveries[0]?.body ?? "{}");
    expect(body.type).toBe("exports.ready");
    expect(body.data.files.map((f: { format: string }) => f.format)).toEqual(["csv", "ndjson"]);
    for (const file of body.data.files) expect((await fetch(new URL(file.downloadUrl, app.url))).status).toBe(200);
  });

  test("chord that reports failures: every recipient, then a report naming the one that failed", async () => {
    smtp.refuse.add("gone@example.com");
    const { workflowId } = await client.workflows.start.mutate({
      name: "notify_all",
      input: {
        recipients: ["one@example.com", "gone@example.com", "two@example.com"],
        subject: "News",
        body: "hello",
        reportTo: "report@example.com",
      },
    });
    const workflow = await ended(workflowId);
    expect(workflow.status).toBe("succeeded");
    const [report, ...more] = mailTo("report@example.com");
    expect(more).toHaveLength(0);
    expect(report?.mail.subject).toBe("News: 2 delivered, 1 failed");
    expect(report?.mail.text).toMatch(
      /delivered: one@example.com\nFAILED: gone@example.com \(.*550.*\)\ndelivered: two/,
    );
  });
});

describe("shapes and result passing", () => {
  test("nested shapes run in order, pass results, and join exactly once", async () => {
    const workflowId = await startWorkflow(app.app.services.pool, ownerId, "test_nested", {
      to: "nested@example.com",
      reportTo: "joined@example.com",
    });
    const workflow = await ended(workflowId);
    expect(workflow).toMatchObject({ status: "succeeded", stepsDone: 7, stepsTotal: 7 });
    const steps = tasks(workflow.tree);
    const jobs = await Promise.all(steps.map((t) => client.jobs.get.query({ jobId: t.jobId ?? "" })));
    expect(jobs.map((j) => j.workflowId)).toEqual(steps.map(() => workflowId));
    const at = (i: number) => ({ start: jobs[i]?.startedAt as Date, end: jobs[i]?.completedAt as Date });
    // first -> (g1 | c1 -> c2) -> (m1 | m2) -> joined
    for (const later of [1, 2]) expect(at(later).start >= at(0).end).toBe(true);
    expect(at(3).start >= at(2).end).toBe(true);
    for (const member of [4, 5]) expect(at(member).start >= at(1).end && at(member).start >= at(3).end).toBe(true);
    expect(at(6).start >= at(4).end && at(6).start >= at(5).end).toBe(true);
    const first = jobs[0]?.result as { messageId: string } | undefined;
    expect(jobs[1]?.payload).toMatchObject({ body: first?.messageId });
    const [joined, ...again] = mailTo("joined@example.com");
    expect(again).toHaveLength(0);
    const ids = [4, 5].map((i) => (jobs[i]?.result as { messageId: string } | undefined)?.messageId);
    expect(joined?.mail.text?.trim()).toBe(ids.join(" "));
  });

  test("a payload that fails its step's schema fails the workflow, naming the step and field", async () => {
    const workflowId = await startWorkflow(app.app.services.pool, ownerId, "test_bad_payload", {
      to: "bad@example.com",
      reportTo: "x@example.com",
    });
    const workflow = await ended(workflowId);
    expect(workflow.status).toBe("failed");
    expect(workflow.error).toMatch(/step 0\.1 \(email\): payload\.to: /);
    expect(tasks(workflow.tree).map((t) => t.status)).toEqual(["succeeded", "failed"]);
    expect(tasks(workflow.tree)[1]?.jobId).toBeUndefined();
  });
});

describe("failure, cancel and resume", () => {
  test("a failed step fails its chain and the next step never starts; requeuing it resumes the workflow", async () => {
    smtp.refuse.add("later@example.com");
    const { workflowId } = await client.workflows.start.mutate({
      name: "export_then_email",
      input: { format: "ndjson", to: "later@example.com" },
    });
    const failed = await ended(workflowId);
    expect(failed).toMatchObject({ status: "failed", stepsDone: 2 });
    expect(failed.error).toMatch(/step 0\.1 \(email\) failed: .*550/);
    const emailStep = tasks(failed.tree)[1];
    expect(emailStep).toMatchObject({ status: "failed" });

    // The dead-letter queue holds the step; requeuing it runs the rest of the workflow.
    smtp.refuse.delete("later@example.com");
    await client.dlq.requeue.mutate({ jobId: emailStep?.jobId ?? "" });
    const resumed = await ended(workflowId);
    expect(resumed).toMatchObject({ status: "succeeded", stepsDone: 2 });
    expect(mailTo("later@example.com")).toHaveLength(1);
  });

  test("with two failed members, requeuing one runs it but the workflow resumes only when the other is requeued too", async () => {
    smtp.refuse.add("left@example.com");
    smtp.refuse.add("right@example.com");
    const workflowId = await startWorkflow(app.app.services.pool, ownerId, "test_pair", {
      to: "left@example.com",
      reportTo: "right@example.com",
    });
    // The workflow fails with the first member; wait for the second to fail too.
    const failed = await eventually(async () => {
      const workflow = await client.workflows.get.query({ workflowId });
      return tasks(workflow.tree).filter((t) => t.status === "failed").length === 2 ? workflow : undefined;
    });
    expect(failed.status).toBe("failed");
    expect(tasks(failed.tree).map((t) => t.status)).toEqual(["failed", "failed", "skipped"]);
    smtp.refuse.delete("left@example.com");
    smtp.refuse.delete("right@example.com");
    const [left, right] = tasks(failed.tree);

    await client.dlq.requeue.mutate({ jobId: left?.jobId ?? "" });
    await eventually(async () => (await client.jobs.get.query({ jobId: left?.jobId ?? "" })).status === "succeeded");
    const half = await client.workflows.get.query({ workflowId });
    expect(half.status).toBe("failed"); // the other member is still failed
    expect(tasks(half.tree).map((t) => t.status)).toEqual(["succeeded", "failed", "skipped"]);

    await client.dlq.requeue.mutate({ jobId: right?.jobId ?? "" });
    const resumed = await ended(workflowId);
    expect(resumed).toMatchObject({ status: "succeeded", stepsDone: 3 });
    expect(mailTo("pair-done@example.com")).toHaveLength(1);
  });

  test("a group member's failure fails the workflow and skips what had not started", async () => {
    smtp.refuse.add("refused@example.com");
    const workflowId = await startWorkflow(app.app.services.pool, ownerId, "test_nested", {
      to: "refused@example.com",
      reportTo: "never@example.com",
    });
    const workflow = await ended(workflowId);
    expect(workflow.status).toBe("failed");
    expect(tasks(workflow.tree).map((t) => t.status)).toEqual([
      "failed",
      "skipped",
      "skipped",
      "skipped",
      "skipped",
      "skipped",
      "skipped",
    ]);
    expect(mailTo("never@example.com")).toHaveLength(0);
  });

  test("cancel stops the whole tree: the running step is cancelled, the rest skipped; a second cancel conflicts", async () => {
    const release = smtp.holdData();
    const { workflowId } = await client.workflows.start.mutate({
      name: "notify_all",
      input: { recipients: ["held@example.com"], subject: "Held", body: "b", reportTo: "held-report@example.com" },
    });
    await smtp.dataStarted();
    const running = await client.workflows.get.query({ workflowId });
    expect(running.status).toBe("running");
    const cancelled = await client.workflows.cancel.mutate({ workflowId });
    release();
    expect(cancelled.status).toBe("cancelled");
    expect(tasks(cancelled.tree).map((t) => t.status)).toEqual(["cancelled", "skipped"]);
    const error = await rejection(client.workflows.cancel.mutate({ workflowId }));
    expect(error.data?.code).toBe("CONFLICT");
    // A cancelled workflow's steps are not requeued: nothing would follow them.
    const { rows } = await app.app.services.pool.query<{ id: string }>(
      "UPDATE jobs SET status = 'failed', dlq_reason = 'permanent_error' WHERE workflow_id = $1 RETURNING id",
      [workflowId],
    );
    const requeue = await rejection(client.dlq.requeue.mutate({ jobId: rows[0]?.id ?? "" }));
    expect(requeue.data?.code).toBe("CONFLICT");
    expect(requeue.message).toMatch(/cancelled/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect((await client.workflows.get.query({ workflowId })).status).toBe("cancelled");
    expect(mailTo("held-report@example.com")).toHaveLength(0);
  });
});

describe("the API", () => {
  test("list shows the caller's workflows, newest first; others' are not found", async () => {
    const { workflowId } = await client.workflows.start.mutate({
      name: "notify_all",
      input: { recipients: ["list@example.com"], subject: "L", body: "b", reportTo: "list-report@example.com" },
    });
    const list = await client.workflows.list.query({});
    expect(list.items[0]?.id).toBe(workflowId);
    expect(list.items[0]).toMatchObject({ name: "notify_all", stepsTotal: 2 });
    const stranger = app.client(await app.token("stranger@example.com"));
    expect((await stranger.workflows.list.query({})).items).toHaveLength(0);
    expect((await rejection(stranger.workflows.get.query({ workflowId }))).data?.code).toBe("NOT_FOUND");
    expect((await rejection(stranger.workflows.cancel.mutate({ workflowId }))).data?.code).toBe("NOT_FOUND");
    await ended(workflowId);
  });

  test("bad input is a 400 naming the field, and nothing is started", async () => {
    const before = (await client.workflows.list.query({})).items.length;
    const unknown = await rejection(client.workflows.start.mutate({ name: "nope", input: {} } as never));
    expect(unknown.data?.code).toBe("BAD_REQUEST");
    expect(unknown.message).toMatch(/name/);
    const badField = await rejection(
      client.workflows.start.mutate({
        name: "notify_all",
        input: { recipients: ["not-an-address"], subject: "s", body: "b", reportTo: "r@example.com" },
      }),
    );
    expect(badField.data?.code).toBe("BAD_REQUEST");
    expect(badField.data?.zodError?.issues[0]?.path).toEqual(["input", "recipients", 0]);
    const otherEndpoint = await rejection(
      client.workflows.start.mutate({
        name: "exports_then_webhook",
        input: { endpointId: "00000000-0000-4000-8000-000000000000" },
      }),
    );
    expect(otherEndpoint.data?.code).toBe("BAD_REQUEST");
    expect(otherEndpoint.data?.zodError?.issues[0]?.path).toEqual(["input", "endpointId"]);
    const newline = await rejection(
      client.workflows.start.mutate({
        name: "notify_all",
        input: { recipients: ["a@example.com"], subject: "two\nlines", body: "b", reportTo: "r@example.com" },
      }),
    );
    expect(newline.data?.zodError?.issues[0]?.path).toEqual(["input", "subject"]);
    // A first step the input cannot build: refused at start, naming the step's field, and nothing is created.
    const unbuildable = await rejection(
      startWorkflow(app.app.services.pool, ownerId, "test_bad_first", {
        to: "a@example.com",
        reportTo: "b@example.com",
      }),
    );
    expect(unbuildable.message).toMatch(/input: step 0 \(email\): payload\.to: /);
    expect((await client.workflows.list.query({})).items.length).toBe(before);
  });
});
