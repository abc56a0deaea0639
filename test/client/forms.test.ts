// The start-job form's logic: the shared schema validates in the browser, with
// errors keyed by field, and options are parsed or rejected beside their field.
import { expect, test } from "vitest";
import { buildEnqueueRequest, jobForms } from "../../client/src/lib/forms.js";
import { jobTypes } from "../../shared/jobs.js";

const noOptions = { idempotencyKey: "", runAt: "", priority: "" };

test("every job type has a form", () => {
  for (const type of jobTypes) expect(jobForms[type].length).toBeGreaterThan(0);
});

test("a valid email form builds the request the server expects, leaving out empty optional fields", () => {
  const built = buildEnqueueRequest("email", { to: "a@example.com", subject: "Hi", body: "Text", html: "" }, noOptions);
  expect(built).toEqual({
    ok: true,
    request: { type: "email", payload: { to: "a@example.com", subject: "Hi", body: "Text" } },
  });
});

test("schema errors are keyed by field", () => {
  const built = buildEnqueueRequest("email", { to: "nope", subject: "", body: "b" }, noOptions);
  expect(built.ok).toBe(false);
  if (!built.ok) {
    expect(Object.keys(built.errors).sort()).toEqual(["subject", "to"]);
    expect(built.errors.to).toMatch(/email/i);
  }
  const injected = buildEnqueueRequest(
    "email",
    { to: "a@example.com", subject: "Hi\r\nBcc: x@y.z", body: "b" },
    noOptions,
  );
  expect(injected.ok === false && injected.errors.subject).toMatch(/CR or LF/);
});

test("options: idempotency key, run-at time and priority are parsed, or named when wrong", () => {
  const values = { to: "a@example.com", subject: "Hi", body: "b" };
  const ok = buildEnqueueRequest("email", values, { idempotencyKey: "k-1", runAt: "2030-01-02T03:04", priority: "-5" });
  expect(ok.ok && ok.request).toMatchObject({
    idempotencyKey: "k-1",
    priority: -5,
    runAt: new Date("2030-01-02T03:04"),
  });
  const bad = buildEnqueueRequest("email", values, {
    idempotencyKey: "x".repeat(256),
    runAt: "nonsense",
    priority: "1.5",
  });
  expect(bad.ok).toBe(false);
  if (!bad.ok) expect(Object.keys(bad.errors).sort()).toEqual(["idempotencyKey", "priority", "runAt"]);
});
