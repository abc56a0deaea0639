/**
 * The doorbell rule, for every write in server/lifecycle/: a write rings the
 * events doorbell once it has committed (ringAfter), never with a NOTIFY
 * inside its own statement or transaction. Postgres serialises the commits of
 * notifying transactions (a database-wide lock held through the commit's WAL
 * flush), so a NOTIFY in every hot write makes those writes take turns at the
 * disk. Here the write commits without it, and the ring is its own tiny
 * transaction with synchronous_commit off: it holds that lock for no flush (a
 * doorbell carries nothing that needs to survive a crash). Rings that come
 * while one is in flight are coalesced into one more ring.
 *
 * Listeners lose nothing: a ring is sent only after the write it announces has
 * committed, and the hub also polls (see event-hub.ts) in case a ring is lost.
 */
import type pg from "pg";
import { perPool } from "../db/pool.js";
import { EVENTS_CHANNEL } from "../db/schema.js";

// One statement, so a failure rolls back its own implicit transaction and never
// leaves a pooled connection inside an open one; set_config(..., true) lasts
// until that transaction's commit.
const RING = `SELECT set_config('synchronous_commit', 'off', true), pg_notify('${EVENTS_CHANNEL}', '')`;

/**
 * At most one ring per this many ms: each ring is a transaction, and under
 * load the worker would otherwise ring after every batch. Listeners read the
 * whole log since their cursor on each ring, so fewer rings lose nothing; the
 * cost is up to this much latency.
 */
const MIN_INTERVAL_MS = 10;

export class Doorbell {
  private busy = false;
  private again = false;
  private lastRingAt = 0;

  constructor(private readonly pool: pg.Pool) {}

  ring(): void {
    if (this.busy) {
      this.again = true;
      return;
    }
    this.busy = true;
    const wait = this.lastRingAt + MIN_INTERVAL_MS - Date.now();
    if (wait > 0) setTimeout(() => this.send(), wait);
    else this.send();
  }

  private send(): void {
    this.lastRingAt = Date.now();
    // A failed ring is covered by the hub's poll.
    this.pool
      .query(RING)
      .catch(() => {})
      .finally(() => {
        this.busy = false;
        if (this.again) {
          this.again = false;
          this.ring();
        }
      });
  }
}

/** The doorbell of a pool (one pool per process, so one doorbell per process). */
export const doorbellFor = perPool((pool) => new Doorbell(pool));

/**
 * Waits for `write` (a statement, or a transaction that ends in a commit) and
 * rings the doorbell if it committed. A write that changed nothing rings too:
 * a ring is cheap and coalesced, and deciding "nothing changed" is each
 * write's own business.
 */
export async function ringAfter<T>(pool: pg.Pool, write: Promise<T>): Promise<T> {
  const value = await write;
  doorbellFor(pool).ring();
  return value;
}
