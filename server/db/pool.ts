/**
 * server/db/ (foundation) owns the database: this pool and the Prisma client, the embedded Postgres, migrations,
 * group commit (batcher.ts) and the hand-written SQL's contract (schema.ts: row types, NOTIFY channel names).
 * Must not: import anything above the foundation layer, or write job state (that is server/lifecycle/).
 *
 * One pg Pool per process, shared by Prisma (through adapter-pg), the hot-path
 * SQL modules and graphile-worker, so a transaction can span all three.
 */
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaClient } from "../generated/prisma/client.js";
import { QueryTimeoutError } from "./unavailable.js";

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

/** DB_QUERY_TIMEOUT_MS's default: how long a statement waits for its answer. */
export const DEFAULT_QUERY_TIMEOUT_MS = 10_000;

/**
 * The bound of statements that may rightly run long: maintenance deletes and
 * an export's count. Still a bound, so a database that stops answering
 * releases their connection (and worker slot) in the end.
 */
export const LONG_STATEMENT_TIMEOUT_MS = 10 * 60_000;

type QueryCallback = (error: Error | null, result?: unknown) => void;

/**
 * A statement with its own bound instead of the pool's (0: none), for a
 * statement expected to outlast DB_QUERY_TIMEOUT_MS.
 */
export function longStatement(text: string, values: unknown[] = [], timeoutMs = LONG_STATEMENT_TIMEOUT_MS) {
  return { text, values, query_timeout: timeoutMs } as pg.QueryConfig;
}

/**
 * A pg Client whose statements each get `timeoutMs` to answer (a statement
 * config's `query_timeout` overrides it; 0: no bound). On time out the socket
 * is destroyed: the statement fails with QueryTimeoutError, and the pool drops
 * the client when it comes back, whoever releases it and however. The bound is
 * the client's because the server's statement_timeout cannot fire while
 * Postgres is frozen (SIGSTOP, a stalled host, a partition without a reset),
 * and a request would hang for the whole outage. pg's own query_timeout is
 * not used: it leaves the connection open with the statement still pending,
 * and graphile-worker and Prisma's transactions release without an error, so
 * the pool would hand the stuck connection out again; and it would time a
 * cursor from its first read to its last. Cursors and streams (submittables)
 * are not bounded here: they span many round trips at their reader's pace,
 * and their owner bounds them (the export: its task's time limits).
 */
function boundedClient(timeoutMs: number): typeof pg.Client {
  return class BoundedClient extends pg.Client {
    // biome-ignore lint/suspicious/noExplicitAny: forwards pg's overloaded query() as it is
    override query(config: any, values?: any, callback?: any): any {
      if (typeof config?.submit === "function") return super.query(config, values, callback);
      let bound = timeoutMs;
      if (config !== null && typeof config === "object" && "query_timeout" in config) {
        const { query_timeout: own, ...rest } = config;
        bound = typeof own === "number" ? own : timeoutMs;
        config = rest;
      }
      if (!bound) return super.query(config, values, callback);
      const timer = setTimeout(() => this.connection.stream.destroy(new QueryTimeoutError(bound)), bound);
      const settled = () => clearTimeout(timer);
      const clearing =
        (done: QueryCallback): QueryCallback =>
        (error, result) => {
          settled();
          done(error, result);
        };
      try {
        if (typeof values === "function") return super.query(config, clearing(values));
        if (typeof callback === "function") return super.query(config, values, clearing(callback));
        if (typeof config?.callback === "function") {
          return super.query({ ...config, callback: clearing(config.callback) }, values);
        }
        const result: Promise<unknown> = super.query(config, values);
        result.then(settled, settled);
        return result;
      } catch (error) {
        settled();
        throw error;
      }
    }
  };
}

/**
 * `queryTimeoutMs` bounds each statement on the pool's clients (see
 * boundedClient), graphile-worker's and Prisma's included.
 */
export function createPool(connectionString: string, max: number, queryTimeoutMs = DEFAULT_QUERY_TIMEOUT_MS): pg.Pool {
  // A bounded wait for a connection: with the database gone, calls fail fast
  // (SERVICE_UNAVAILABLE) instead of hanging.
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: 5_000,
    options: STARTUP_OPTIONS,
    Client: boundedClient(queryTimeoutMs),
  });
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
  let result: T;
  try {
    await client.query("BEGIN");
    result = await fn(client);
    await client.query("COMMIT");
  } catch (error) {
    // A connection that cannot roll back (its statement timed out, its socket
    // died) is destroyed, not returned to the pool.
    const rolledBack = await client.query("ROLLBACK").then(
      () => true,
      () => false,
    );
    client.release(rolledBack ? undefined : (error as Error));
    throw error;
  }
  client.release();
  return result;
}
