/** Subscribes to jobs.events over real SSE and records what arrives. */
import type { JobEvent } from "../../shared/events.js";
import type { trpcClient } from "./app.js";
import { eventually } from "./app.js";

export interface Recorder {
  events: JobEvent[];
  errors: unknown[];
  started: Promise<void>;
  waitFor: (predicate: (events: JobEvent[]) => boolean, timeoutMs?: number) => Promise<JobEvent[]>;
  waitForError: (timeoutMs?: number) => Promise<unknown>;
  stop: () => void;
}

export function record(
  client: ReturnType<typeof trpcClient>,
  input: { jobId?: string; lastEventId?: string } = {},
): Recorder {
  const events: JobEvent[] = [];
  const errors: unknown[] = [];
  let markStarted: () => void = () => {};
  const started = new Promise<void>((resolve) => {
    markStarted = resolve;
  });
  const subscription = client.jobs.events.subscribe(input, {
    onStarted: () => markStarted(),
    onData: (tracked) => events.push(tracked.data),
    onError: (error) => errors.push(error),
  });
  return {
    events,
    errors,
    started,
    waitFor: (predicate, timeoutMs = 10_000) => eventually(async () => predicate(events) && events, timeoutMs),
    waitForError: (timeoutMs = 10_000) => eventually(async () => errors[0], timeoutMs),
    stop: () => subscription.unsubscribe(),
  };
}
