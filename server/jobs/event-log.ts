/**
 * Reading the job event log by cursor. The cursor is (txid, id): the writing
 * transaction's id, then the row id. A reader only reads rows whose transaction
 * is older than every transaction still running (txid < the snapshot's xmin), so
 * a row that commits late can never land behind a cursor already handed out:
 * the stream is gap-free without serialising writers.
 */
import type { JobEvent, JobEventKind } from "../../shared/events.js";
import type { DlqReason, JobStatus } from "../../shared/states.js";
import type { Queryable } from "../db/schema.js";

export interface Cursor {
  txid: string;
  id: string;
}

/** An event with its owner, for scoping; `ownerId` never leaves the server. */
export interface ScopedEvent {
  cursor: Cursor;
  ownerId: string;
  event: JobEvent;
}

export const START: Cursor = { txid: "0", id: "0" };

/** The opaque id handed to clients: "<txid>-<id>", both decimal. */
export function encodeCursor(cursor: Cursor): string {
  return `${cursor.txid}-${cursor.id}`;
}

/** Parses a client's lastEventId; undefined when malformed. */
export function decodeCursor(value: string): Cursor | undefined {
  const match = /^(\d{1,20})-(\d{1,19})$/.exec(value);
  if (!match?.[1] || !match[2]) return undefined;
  // Canonical decimals (no leading zeros), so compareCursors can compare text.
  const cursor = { txid: match[1].replace(/^0+(?=\d)/, ""), id: match[2].replace(/^0+(?=\d)/, "") };
  // Within xid8 and bigint: a larger value could never name an event, and the database would refuse it.
  if (compareDecimals(cursor.txid, MAX_XID8) > 0 || compareDecimals(cursor.id, MAX_BIGINT) > 0) return undefined;
  return cursor;
}

const MAX_XID8 = "18446744073709551615";
const MAX_BIGINT = "9223372036854775807";

/** Numeric order of two canonical non-negative decimals, without parsing (runs per event per subscriber). */
function compareDecimals(a: string, b: string): number {
  if (a.length !== b.length) return a.length < b.length ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareCursors(a: Cursor, b: Cursor): number {
  return compareDecimals(a.txid, b.txid) || compareDecimals(a.id, b.id);
}

interface EventRow {
  txid: string;
  id: string;
  job_id: string;
  owner_id: string;
  job_type: string;
  kind: JobEventKind;
  status: JobStatus;
  attempt: number;
  progress: Record<string, unknown> | null;
  error: string | null;
  reason: DlqReason | null;
  next_run_at: Date | null;
  at: Date;
}

function toScopedEvent(row: EventRow): ScopedEvent {
  const cursor = { txid: row.txid, id: row.id };
  return {
    cursor,
    ownerId: row.owner_id,
    event: {
      id: encodeCursor(cursor),
      jobId: row.job_id,
      jobType: row.job_type,
      kind: row.kind,
      status: row.status,
      attempt: row.attempt,
      at: row.at,
      ...(row.progress ? { progress: row.progress } : {}),
      ...(row.error ? { error: row.error } : {}),
      ...(row.reason ? { reason: row.reason } : {}),
      ...(row.next_run_at ? { nextRunAt: row.next_run_at } : {}),
    },
  };
}

// The text aliases shadow the columns in ORDER BY, so queries order by the
// qualified names (job_events.txid, job_events.id): numeric, not text, order.
// A workflow's own events (kind "workflow") have no job: their jobId is the workflow's id.
const COLUMNS = `txid::text AS txid, id::text AS id, coalesce(job_id, workflow_id) AS job_id, owner_id, job_type, kind, status, attempt,
                 progress, error, reason, next_run_at, at`;

export interface EventsPage {
  events: ScopedEvent[];
  /** True when rows exist past the visible horizon (a transaction older than them is still open). */
  heldBack: boolean;
}

/**
 * Events after `cursor` whose transactions are settled, in cursor order.
 * `scope` narrows to one owner and/or one job.
 */
export async function jobEventsSince(
  db: Queryable,
  cursor: Cursor,
  scope: { ownerId?: string | undefined; jobId?: string | undefined } = {},
  limit = 1000,
  /** Also look past the horizon (the hub uses it to re-read soon; a backfill has no use for it). */
  options: { checkHeldBack?: boolean } = {},
): Promise<EventsPage> {
  // Scope conditions only when scoped: an "$n IS NULL OR ..." filter would make
  // the hub's one plan (see pool.ts) sort every row past the cursor instead of
  // walking the (txid, id) index for `limit` rows, so each page of a backlog
  // would cost the whole backlog.
  const values: unknown[] = [cursor.txid, cursor.id, limit];
  const conditions = ["(txid, id) > ($1::text::xid8, $2::bigint)", "txid < pg_snapshot_xmin(pg_current_snapshot())"];
  if (scope.ownerId !== undefined) conditions.push(`owner_id = $${values.push(scope.ownerId)}::uuid`);
  if (scope.jobId !== undefined) conditions.push(`job_id = $${values.push(scope.jobId)}::uuid`);
  const settled = `SELECT ${COLUMNS}, true AS settled
       FROM job_events
      WHERE ${conditions.join(" AND ")}
      ORDER BY job_events.txid, job_events.id
      LIMIT $3`;
  // The held-back probe rides in the same round trip: one row past the horizon,
  // if any. It starts at the horizon, not at the cursor: a reader's cursor comes
  // from rows below an earlier horizon, and the horizon only moves on, so every
  // row past it is after the cursor (and starting at the cursor would walk the
  // whole backlog again).
  const probe = `SELECT ${COLUMNS}, false AS settled
       FROM job_events
      WHERE txid >= pg_snapshot_xmin(pg_current_snapshot())
      ORDER BY job_events.txid, job_events.id
      LIMIT 1`;
  const withProbe = options.checkHeldBack !== false;
  const text = withProbe ? `(${settled}) UNION ALL (${probe})` : settled;
  const unscoped = values.length === 3;
  const { rows } = await db.query<EventRow & { settled: boolean }>(
    withProbe && unscoped
      ? // Prepared once per connection (one plan for all: see pool.ts): the hub runs this on every ring.
        { name: "typed_jobs_events_since_probe", text, values }
      : // A backfill: its text varies with its scope, so it is not kept by name.
        { text, values },
  );
  const events = rows.filter((row) => row.settled).map(toScopedEvent);
  return { events, heldBack: events.length < rows.length };
}

/**
 * The horizon as a cursor: just below the oldest transaction still running
 * (xmin), at the largest row id. Every row of a transaction older than xmin is
 * at or before it, every row of a younger one after it; and xmin only moves on,
 * so neither does this.
 */
const HORIZON_TXID = "(pg_snapshot_xmin(pg_current_snapshot())::text::numeric - 1)::text";

/**
 * The newest settled position: a live reader starting here sees every event
 * that settles from now on and none before.
 */
export async function settledHead(db: Queryable): Promise<Cursor> {
  const { rows } = await db.query<{ txid: string }>(`SELECT ${HORIZON_TXID} AS txid`);
  const row = rows[0];
  return row ? { txid: row.txid, id: MAX_BIGINT } : START;
}

export interface SettledPosition {
  /** settledHead's cursor. */
  head: Cursor;
  /** As EventsPage.heldBack: rows exist past the horizon (a transaction older than them is still open). */
  heldBack: boolean;
}

/**
 * settledHead, and whether rows are held back past it, from one snapshot in
 * one round trip that returns no event row: the hub's read while nobody is
 * subscribed. The probe is one step into the (txid, id) index, the same
 * ordered LIMIT 1 as jobEventsSince's (measured: an index-only scan, 3 buffers).
 */
export async function settledPosition(db: Queryable): Promise<SettledPosition> {
  const { rows } = await db.query<{ txid: string; held_back: boolean }>({
    // Prepared once per connection: the hub runs it on every ring while nobody is subscribed.
    name: "typed_jobs_settled_position",
    text: `SELECT ${HORIZON_TXID} AS txid,
                  (SELECT txid FROM job_events
                    WHERE txid >= pg_snapshot_xmin(pg_current_snapshot())
                    ORDER BY job_events.txid, job_events.id
                    LIMIT 1) IS NOT NULL AS held_back`,
  });
  const row = rows[0];
  return row ? { head: { txid: row.txid, id: MAX_BIGINT }, heldBack: row.held_back } : { head: START, heldBack: false };
}

/** Whether a cursor names an event still in the log (false: pruned, or never existed). */
export async function cursorRetained(db: Queryable, cursor: Cursor): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 FROM job_events WHERE id = $1::bigint AND txid = $2::text::xid8`, [
    cursor.id,
    cursor.txid,
  ]);
  return rows.length > 0;
}

/**
 * One job's whole committed history, in cursor order. Not horizon-bound: a
 * point read wants every committed event now, even while an unrelated older
 * transaction is open (the stream waits for such transactions; this need not).
 */
export async function jobHistory(db: Queryable, jobId: string): Promise<ScopedEvent[]> {
  const { rows } = await db.query<EventRow>(
    `SELECT ${COLUMNS} FROM job_events WHERE job_id = $1 ORDER BY job_events.txid, job_events.id`,
    [jobId],
  );
  return rows.map(toScopedEvent);
}
