/**
 * One pg Pool per process, shared by Prisma (through adapter-pg), the hot-path
 * SQL modules and graphile-worker, so a transaction can span all three.
 */
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client.js";

export type Db = PrismaClient;

/**
 * Every parameterised statement gets one plan for all parameters: the hot
 * path's batches over arrays, where Postgres would otherwise plan each
 * execution afresh (measured: a third of the worker batch's time in the
 * database), graphile-worker's fetch and completion, and, since the setting
 * covers unnamed extended-protocol statements too, Prisma's and our other
 * queries. So a query here must not lean on its parameters' values for its
 * plan: an optional filter written "$n IS NULL OR col = $n" gets a plan that
 * reads every candidate row (measured on the event hub's read: 20 ms against
 * 3 ms). Such filters are written into the statement only when given
 * (jobEventsSince, the stats overview, the workflows list; the plans are
 * checked in test/db/query-plans.test.ts); beside a primary-key lookup they
 * are harmless. Sent as a startup option; an `options` parameter in
 * DATABASE_URL takes its place.
 */
const STARTUP_OPTIONS = "-c plan_cache_mode=force_generic_plan";

export function createPool(connectionString: string, max: number): pg.Pool {
  // A bounded wait for a connection: with the database gone, calls fail fast
  // (SERVICE_UNAVAILABLE) instead of hanging.
  const pool = new pg.Pool({ connectionString, max, connectionTimeoutMillis: 5_000, options: STARTUP_OPTIONS });
  // An idle client that loses its connection (Postgres restarting) emits here;
  // without a listener that would crash the process. The pool replaces it.
  pool.on("error", () => {});
  // Same for a checked-out client: its query fails and the caller handles that.
  pool.on("connect", (client) => client.on("error", () => {}));
  return pool;
}

export function createPrisma(pool: pg.Pool): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg(pool) });
}

/** A lazily made value per pool: one pool per process, so one per process (a batcher, a doorbell). */
export function perPool<T>(create: (pool: pg.Pool) => T): (pool: pg.Pool) => T {
  const made = new WeakMap<pg.Pool, T>();
  return (pool) => {
    let value = made.get(pool);
    if (value === undefined) {
      value = create(pool);
      made.set(pool, value);
    }
    return value;
  };
}

/** Postgres chose this transaction as a deadlock's victim (it was rolled back). */
function isDeadlock(error: unknown): boolean {
  return (error as { code?: string })?.code === "40P01";
}

/**
 * Runs `fn` in a transaction on one pooled client; rolls back on any error.
 * A deadlock victim runs again (up to 3 tries in all): locks are taken in a
 * fixed order where we can, but a batched statement's row order is the
 * planner's, and a rolled-back transaction left nothing behind to undo.
 */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await transactionOnce(pool, fn);
    } catch (error) {
      if (!isDeadlock(error) || tries === 3) throw error;
    }
  }
}

async function transactionOnce<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}
