/**
 * Rings the events doorbell after a write has committed, instead of NOTIFY
 * inside the writing transaction. Postgres serialises the commits of
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
import { EVENTS_CHANNEL } from "./sql.js";

const RING = `BEGIN; SET LOCAL synchronous_commit = off; SELECT pg_notify('${EVENTS_CHANNEL}', ''); COMMIT;`;

export class Doorbell {
  private inFlight = false;
  private again = false;

  constructor(private readonly pool: pg.Pool) {}

  ring(): void {
    if (this.inFlight) {
      this.again = true;
      return;
    }
    this.inFlight = true;
    // One simple-protocol round trip; a failed ring is covered by the hub's poll.
    this.pool
      .query(RING)
      .catch(() => {})
      .finally(() => {
        this.inFlight = false;
        if (this.again) {
          this.again = false;
          this.ring();
        }
      });
  }
}

const perPool = new WeakMap<pg.Pool, Doorbell>();

/** The doorbell of a pool (one pool per process, so one doorbell per process). */
export function doorbellFor(pool: pg.Pool): Doorbell {
  let doorbell = perPool.get(pool);
  if (!doorbell) {
    doorbell = new Doorbell(pool);
    perPool.set(pool, doorbell);
  }
  return doorbell;
}
