/**
 * An attempt's life in this worker process: one Attempt per graphile job that
 * runs a Job, and the table of them. Its state only moves forward:
 *
 *   queued ──> starting ──> running ──> recording ──> done
 *      │          │
 *      └──────────┴──────────────────────────────────> done   (not started)
 *
 *   queued     Behind an earlier attempt of the same job in this process (a
 *              batch that handed the job out twice, a lock released by a
 *              replaced graphile pool or a sweep): waits for it to be done.
 *              Shutdown ends the wait (ShutdownError; graphile keeps its job).
 *   starting   The start write (pending|retrying -> running) is in flight.
 *              Cancel and shutdown already abort it, so a cancel that lands
 *              now reaches the handler instead of finding nothing.
 *   running    The handler runs. Its signal aborts at the soft time limit, on
 *              cancel, at shutdown past the grace period, and when a progress
 *              write finds the attempt stale; the hard time limit abandons it.
 *   recording  The outcome is being written (success, retry, dead letter),
 *              after the progress reported before it. A
 *              plain job's success is written after the graphile slot was
 *              given back (`slotFreed`): shutdown waits for those, and a
 *              replaced graphile pool does not take their jobs for crashed.
 *   done       Recorded, skipped (the job was not startable) or given up. A
 *              later attempt of the job queued behind this one goes on.
 *
 * server/worker/run-attempt.ts makes the moves; nothing else changes `state`.
 */

export type AttemptState = "queued" | "starting" | "running" | "recording" | "done";

const ORDER: readonly AttemptState[] = ["queued", "starting", "running", "recording", "done"];

export class TimeLimitError extends Error {
  constructor(kind: "soft" | "hard", ms: number) {
    super(`${kind === "soft" ? "Soft" : "Hard"} time limit of ${ms} ms exceeded`);
    this.name = "TimeLimitError";
  }
}

export class ShutdownError extends Error {
  constructor() {
    super("Worker shutting down: attempt interrupted");
    this.name = "ShutdownError";
  }
}

export class StaleAttemptError extends Error {
  constructor() {
    super("This attempt is stale: the job has moved on");
    this.name = "StaleAttemptError";
  }
}

export class CancelledError extends Error {
  constructor() {
    super("Cancelled while running");
    this.name = "CancelledError";
  }
}

export class Attempt {
  private current: AttemptState = "queued";
  /** Aborts the handler (see the states above); its reason says why. */
  readonly controller = new AbortController();
  /** Resolves when this attempt is done. */
  readonly done: Promise<void>;
  /** In `recording`: the graphile slot was given back before the outcome landed. */
  slotFreed = false;
  private finish!: () => void;

  constructor(
    readonly jobId: string,
    /** The earlier attempt of the same job in this process, if any, that this one waits for. */
    readonly earlier: Attempt | undefined,
  ) {
    this.done = new Promise((resolve) => {
      this.finish = resolve;
    });
  }

  get state(): AttemptState {
    return this.current;
  }

  /** Moves forward to `next`; a move backward is a bug in the caller. */
  moveTo(next: AttemptState): void {
    if (ORDER.indexOf(next) <= ORDER.indexOf(this.current) && next !== this.current) {
      throw new Error(`attempt of ${this.jobId}: ${this.current} -> ${next} is not a move forward`);
    }
    this.current = next;
    if (next === "done") this.finish();
  }

  /** Aborts a starting or running attempt; false if there was nothing to abort. */
  abort(reason: Error): boolean {
    if ((this.current !== "starting" && this.current !== "running") || this.controller.signal.aborted) return false;
    this.controller.abort(reason);
    return true;
  }
}

/** This process's attempts that are not done, and the latest one of each job. */
export class AttemptTable {
  private readonly all = new Set<Attempt>();
  private readonly latest = new Map<string, Attempt>();
  private readonly afterSlot = new Set<Attempt>();

  /** A new attempt of `jobId`, queued behind the earlier one of this job here, if any. */
  add(jobId: string): Attempt {
    const attempt = new Attempt(jobId, this.latest.get(jobId));
    this.all.add(attempt);
    this.latest.set(jobId, attempt);
    void attempt.done.then(() => {
      this.all.delete(attempt);
      this.afterSlot.delete(attempt);
      if (this.latest.get(jobId) === attempt) this.latest.delete(jobId);
    });
    return attempt;
  }

  /** Marks a recording attempt as having given its graphile slot back before its outcome landed. */
  freeSlot(attempt: Attempt): void {
    attempt.slotFreed = true;
    if (attempt.state !== "done") this.afterSlot.add(attempt);
  }

  /** Whether this process has an attempt of `jobId` that is not done. */
  has(jobId: string): boolean {
    return this.latest.has(jobId);
  }

  /** Cancel: aborts `jobId`'s attempt if one is starting or running here. */
  abort(jobId: string, reason: Error): boolean {
    let aborted = false;
    for (const attempt of this.all) if (attempt.jobId === jobId && attempt.abort(reason)) aborted = true;
    return aborted;
  }

  /** Shutdown past the grace period: aborts every starting or running attempt. */
  abortAll(reason: () => Error): void {
    for (const attempt of this.all) attempt.abort(reason());
  }

  /** Attempts whose outcome is being written after their graphile slot was given back. */
  recordingAfterSlot(): Attempt[] {
    return [...this.afterSlot];
  }
}
