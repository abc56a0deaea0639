// The in-process state of an attempt (server/worker/attempt.ts): moves only
// forward, abortable only while starting or running, queued behind the earlier
// attempt of its job, and tracked by the table until done.
import { expect, test } from "vitest";
import { AttemptTable, CancelledError, ShutdownError } from "../../server/worker/attempt.js";

test("an attempt moves only forward, and done resolves its promise", async () => {
  const attempt = new AttemptTable().add("job-1");
  expect(attempt.state).toBe("queued");
  attempt.moveTo("starting");
  attempt.moveTo("running");
  expect(() => attempt.moveTo("starting")).toThrow(/running -> starting is not a move forward/);
  attempt.moveTo("done");
  await attempt.done;
  expect(attempt.state).toBe("done");
});

test("cancel and shutdown abort an attempt only while it is starting or running", () => {
  const table = new AttemptTable();
  const attempt = table.add("job-1");
  expect(table.abort("job-1", new CancelledError())).toBe(false); // queued: the start will find the job cancelled
  attempt.moveTo("starting");
  expect(table.abort("job-1", new CancelledError())).toBe(true);
  expect(attempt.controller.signal.reason).toBeInstanceOf(CancelledError);
  expect(table.abort("job-1", new CancelledError())).toBe(false); // once

  const recording = table.add("job-2");
  for (const state of ["starting", "running", "recording"] as const) recording.moveTo(state);
  table.abortAll(() => new ShutdownError());
  expect(recording.controller.signal.aborted).toBe(false); // its outcome is being written
});

test("a second attempt of a job queues behind the first; the table forgets a job once its last attempt is done", async () => {
  const table = new AttemptTable();
  const first = table.add("job-1");
  const second = table.add("job-1");
  expect(second.earlier).toBe(first);
  first.moveTo("running");
  expect(table.abort("job-1", new CancelledError())).toBe(true); // the running one, not the queued one
  expect(second.controller.signal.aborted).toBe(false);
  first.moveTo("done");
  await first.done;
  expect(table.has("job-1")).toBe(true);
  second.moveTo("done");
  await second.done;
  await Promise.resolve();
  expect(table.has("job-1")).toBe(false);
});

test("successes recorded after their slot was freed are listed until they land", async () => {
  const table = new AttemptTable();
  const attempt = table.add("job-1");
  for (const state of ["starting", "running", "recording"] as const) attempt.moveTo(state);
  expect(table.recordingAfterSlot()).toEqual([]);
  table.freeSlot(attempt);
  expect(table.recordingAfterSlot()).toEqual([attempt]);
  attempt.moveTo("done");
  await attempt.done;
  await Promise.resolve();
  expect(table.recordingAfterSlot()).toEqual([]);
});
