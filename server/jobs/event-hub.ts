/**
 * One per server process: LISTENs on the events doorbell, reads the event log
 * by cursor once per ring, and fans each event out to the in-process
 * subscribers whose scope matches. A subscriber's database work is its backfill
 * only; live events cost no query per subscriber. While nobody is subscribed a
 * ring reads no event: it only moves the head on to the settled horizon (one
 * tiny query), so with no stream open the writers' events cost no read here.
 *
 * Glossary: doorbell = a NOTIFY with no payload, meaning "the log grew";
 * head = the hub's cursor: the last event it delivered, or the settled horizon
 * it moved on to while nobody was subscribed.
 */
import pg from "pg";
import { EVENTS_CHANNEL } from "../db/schema.js";
import type { Logger } from "../logger.js";
import {
  type Cursor,
  compareCursors,
  jobEventsSince,
  type ScopedEvent,
  settledHead,
  settledPosition,
} from "./event-log.js";

export interface EventScope {
  /** Undefined: every owner (admins). */
  ownerId?: string | undefined;
  jobId?: string | undefined;
}

/** A subscriber that fell this far behind is ended; it reconnects with lastEventId. */
export const MAX_BUFFERED = 10_000;
const SAFETY_POLL_MS = 2_000;
/** With no subscriber, how often at most a ring moves the head on (one small query). */
const IDLE_HEAD_MS = 250;

export class SubscriberOverflowError extends Error {
  constructor() {
    super("The event stream fell too far behind; reconnect with lastEventId to resume");
    this.name = "SubscriberOverflowError";
  }
}

/**
 * A live subscription: an async iterator of events after `startCursor`, in
 * batches (everything buffered since the consumer last asked: one hand-over
 * per hub read rather than per event); or, once `follow` is called, a push of
 * each hub read straight to a callback.
 */
export class Subscription implements AsyncIterable<readonly ScopedEvent[]> {
  private buffer: ScopedEvent[] = [];
  private wake: (() => void) | undefined;
  private follower: Follower | undefined;
  private failure: Error | undefined;
  private closed = false;

  constructor(
    readonly scope: EventScope,
    readonly startCursor: Cursor,
    private readonly onClose: (s: Subscription) => void,
  ) {}

  matches(event: ScopedEvent): boolean {
    if (this.scope.ownerId !== undefined && event.ownerId !== this.scope.ownerId) return false;
    if (this.scope.jobId !== undefined && event.event.jobId !== this.scope.jobId) return false;
    return true;
  }

  /** One hub read, in cursor order. An unscoped subscriber is handed the hub's (frozen) array itself. */
  deliver(events: readonly ScopedEvent[]): void {
    if (this.closed || this.failure) return;
    const unscoped = this.scope.ownerId === undefined && this.scope.jobId === undefined;
    const mine = unscoped ? events : events.filter((event) => this.matches(event));
    if (mine.length === 0) return;
    if (this.follower) {
      try {
        this.follower.onEvents(mine);
      } catch (error) {
        // Never into the hub's loop: the other subscribers still get this read.
        this.fail(error instanceof Error ? error : new Error(String(error)));
      }
      return;
    }
    if (this.buffer.length + mine.length > MAX_BUFFERED) {
      this.fail(new SubscriberOverflowError());
      return;
    }
    for (const event of mine) this.buffer.push(event);
    this.wake?.();
  }

  /**
   * Push delivery from now on: what is buffered, then every later hub read,
   * goes to `onEvents` synchronously, with no promise or batch per delivery
   * (the SSE route, where one hub read goes to a thousand subscribers).
   * `onEnd` is called once, when the subscription closes or fails.
   */
  follow(onEvents: (events: readonly ScopedEvent[]) => void, onEnd: (error?: Error) => void): void {
    if (this.closed || this.failure) {
      onEnd(this.failure);
      return;
    }
    this.follower = { onEvents, onEnd };
    const buffered = this.buffer;
    this.buffer = [];
    if (buffered.length > 0) onEvents(buffered);
  }

  fail(error: Error): void {
    if (this.failure || this.closed) return;
    this.failure = error;
    this.follower?.onEnd(error);
    this.wake?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose(this);
    if (!this.failure) this.follower?.onEnd();
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<readonly ScopedEvent[]> {
    while (!this.closed) {
      if (this.buffer.length > 0) {
        const batch = this.buffer;
        this.buffer = [];
        yield batch;
        continue;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
  }
}

interface Follower {
  onEvents: (events: readonly ScopedEvent[]) => void;
  onEnd: (error?: Error) => void;
}

export class EventHub {
  private readonly subscribers = new Set<Subscription>();
  private head: Cursor | undefined;
  private listener: pg.Client | undefined;
  private reading: Promise<void> | undefined;
  private readAgain = false;
  private heldBackDelay = 0;
  private lastIdleAdvanceAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private safetyTimer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly connectionString: string,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<void> {
    this.head = await settledHead(this.pool);
    await this.listen();
    this.safetyTimer = setInterval(() => this.ring(), SAFETY_POLL_MS);
    this.safetyTimer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.safetyTimer);
    clearTimeout(this.timer);
    for (const subscription of this.subscribers) subscription.close();
    await this.reading?.catch(() => {});
    await this.listener?.end().catch(() => {});
  }

  /** Registers a subscriber; it receives every matching event after the hub's current head. */
  subscribe(scope: EventScope): Subscription {
    if (!this.head) throw new Error("EventHub not started");
    const subscription = new Subscription(scope, this.head, (s) => this.subscribers.delete(s));
    this.subscribers.add(subscription);
    return subscription;
  }

  /** The hub's position now: every event after it is still to be delivered live. */
  currentHead(): Cursor {
    if (!this.head) throw new Error("EventHub not started");
    return this.head;
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.connectionString });
    client.on("notification", () => this.ring());
    client.on("error", (error) => {
      this.logger.warn({ err: error.message }, "event listener connection lost; reconnecting");
      void client.end().catch(() => {});
      this.reconnect();
    });
    await client.connect();
    await client.query(`LISTEN ${EVENTS_CHANNEL}`);
    this.listener = client;
    // Anything that settled while we were not listening.
    this.ring();
  }

  private reconnect(delay = 500): void {
    if (this.stopped) return;
    setTimeout(() => {
      this.listen().catch((error: Error) => {
        this.logger.warn({ err: error.message }, "event listener reconnect failed");
        this.reconnect(Math.min(delay * 2, 10_000));
      });
    }, delay).unref();
  }

  /** The doorbell: read once now, or once more after the read in progress. */
  private ring(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = this.readAll()
      .catch((error: Error) => {
        this.logger.warn({ err: error.message }, "reading the event log failed; will retry");
        this.schedule(500);
      })
      .finally(() => {
        this.reading = undefined;
        if (this.readAgain) {
          this.readAgain = false;
          this.ring();
        }
      });
  }

  private schedule(delayMs: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.ring(), delayMs);
    this.timer.unref();
  }

  private async readAll(): Promise<void> {
    for (;;) {
      const head = this.head;
      // Stopping ends a long catch-up at the next page, not after the whole backlog.
      if (!head || this.stopped) return;
      if (this.subscribers.size === 0) {
        // Nobody to deliver to: move the head on to the horizon without reading
        // the events (they would be read, parsed and dropped). A stream opened
        // later backfills from its own start (event-stream.ts), never from here.
        // At most once per IDLE_HEAD_MS: a busy worker rings up to 100 times a
        // second, and a subscriber that comes meanwhile just starts a little
        // further back (its first read delivers those events).
        const wait = this.lastIdleAdvanceAt + IDLE_HEAD_MS - Date.now();
        if (wait > 0) {
          this.schedule(wait);
          return;
        }
        this.lastIdleAdvanceAt = Date.now();
        const settled = await settledPosition(this.pool);
        // Whoever subscribed meanwhile starts at `head` (the head does not move
        // during a read): the events up to the new horizon are theirs, so read
        // them from `head` instead of skipping them.
        if (this.subscribers.size > 0) continue;
        // Monotonic anyway (the horizon only moves on, and every event read was below an earlier one); cheap to be sure.
        if (compareCursors(settled.head, head) > 0) this.head = settled.head;
        this.pollWhileHeldBack(settled.heldBack);
        return;
      }
      const page = await jobEventsSince(this.pool, head, {}, 1000);
      const last = page.events.at(-1);
      if (last) {
        this.head = last.cursor;
        // Frozen: the events and the page are shared by every subscriber, and
        // serialised once for all (see event-stream-route.ts).
        for (const event of page.events) Object.freeze(event.event);
        const events = Object.freeze(page.events);
        for (const subscription of this.subscribers) subscription.deliver(events);
      }
      if (page.events.length === 1000) continue;
      this.pollWhileHeldBack(page.heldBack);
      return;
    }
  }

  private pollWhileHeldBack(heldBack: boolean): void {
    if (heldBack) {
      // An older transaction is still open; its commit may not ring (it may
      // write no event), so look again soon, backing off while it lasts.
      // Under load some transaction is nearly always open, so the first looks come quickly.
      // With nobody subscribed too: the head stays close behind, so a stream
      // opened now starts about where it would have started.
      this.heldBackDelay = Math.min(Math.max(this.heldBackDelay * 2, 5), 200);
      this.schedule(this.heldBackDelay);
    } else {
      this.heldBackDelay = 0;
    }
  }
}
