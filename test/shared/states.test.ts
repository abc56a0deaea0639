// Job states and their legal transitions, as data.
import { expect, test } from "vitest";
import { canTransition, isTerminal, jobStatuses, statusesLeadingTo, transitions } from "../../shared/states.js";

test("the lifecycle: pending -> running -> succeeded | failed, with retrying and cancelled", () => {
  expect(canTransition("pending", "running")).toBe(true);
  expect(canTransition("running", "succeeded")).toBe(true);
  expect(canTransition("running", "failed")).toBe(true);
  expect(canTransition("running", "retrying")).toBe(true);
  expect(canTransition("retrying", "running")).toBe(true);
  expect(canTransition("pending", "cancelled")).toBe(true);
  expect(canTransition("retrying", "cancelled")).toBe(true);
  // Requeue from the dead-letter queue.
  expect(canTransition("failed", "pending")).toBe(true);
});

test("illegal moves are not in the table", () => {
  expect(canTransition("succeeded", "running")).toBe(false);
  expect(canTransition("succeeded", "pending")).toBe(false);
  expect(canTransition("cancelled", "pending")).toBe(false);
  expect(canTransition("pending", "succeeded")).toBe(false);
  expect(canTransition("failed", "running")).toBe(false);
  expect(canTransition("running", "running")).toBe(false);
  expect(canTransition("pending", "failed")).toBe(false);
});

test("terminal states have no way out but requeue of failed", () => {
  expect(jobStatuses.filter(isTerminal)).toEqual(["succeeded", "failed", "cancelled"]);
  expect(transitions.succeeded).toEqual([]);
  expect(transitions.cancelled).toEqual([]);
  expect(transitions.failed).toEqual(["pending"]);
});

test("statusesLeadingTo derives the legal sources from the table", () => {
  expect(statusesLeadingTo("running").sort()).toEqual(["pending", "retrying"]);
  expect(statusesLeadingTo("pending")).toEqual(["failed"]);
  expect(statusesLeadingTo("cancelled").sort()).toEqual(["pending", "retrying", "running"]);
});
