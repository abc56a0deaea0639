// DB_QUERY_TIMEOUT_MS: a statement without an answer within the bound fails as
// "database unavailable", and its connection is destroyed whoever releases it
// (pool.query, withTransaction, Prisma, a bare pool.connect() released without
// an error as graphile-worker does), so the next statement gets a fresh one.
import type pg from "pg";
import Cursor from "pg-cursor";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createPool, createPrisma, longStatement, withTransaction } from "../../server/db/pool.js";
import { isDatabaseUnavailable, QueryTimeoutError } from "../../server/db/unavailable.js";
import { createTestDatabase } from "../support/db.js";

const BOUND_MS = 500;
const HANG = "SELECT pg_sleep(5)"; // ten times the bound

let url: string;
const pools: pg.Pool[] = [];

beforeAll(async () => {
  url = await createTestDatabase();
});
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.end().catch(() => {})));
});

/** A pool of one connection, so a statement after a time-out shows whether that connection came back. */
async function onePool(): Promise<{ pool: pg.Pool; pid: number }> {
  const pool = createPool(url, 1, BOUND_MS);
  pools.push(pool);
  return { pool, pid: await backendPid(pool) };
}

async function backendPid(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ pid: number }>("SELECT pg_backend_pid() AS pid");
  return rows[0]?.pid as number;
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => expect.unreachable("the statement should have timed out"),
    (error: unknown) => error,
  );
}

test("pool.query: a statement past the bound fails as unavailable, and its connection is destroyed", async () => {
  const { pool, pid } = await onePool();
  const error = await rejectionOf(pool.query(HANG));
  expect(error).toBeInstanceOf(QueryTimeoutError);
  expect(isDatabaseUnavailable(error)).toBe(true);
  expect(pool.totalCount).toBe(0);
  const next = await backendPid(pool);
  expect(next).not.toBe(pid);
  expect(pool.totalCount).toBe(1);
});

test("a client released without an error (as graphile-worker does) is still dropped after its time-out", async () => {
  const { pool, pid } = await onePool();
  const client = await pool.connect();
  const error = await rejectionOf(client.query(HANG));
  expect(isDatabaseUnavailable(error)).toBe(true);
  client.release();
  expect(pool.totalCount).toBe(0);
  expect(await backendPid(pool)).not.toBe(pid);
});

test("withTransaction: a statement timing out inside rolls back and destroys its connection", async () => {
  const { pool, pid } = await onePool();
  const error = await rejectionOf(withTransaction(pool, (client) => client.query(HANG)));
  expect(isDatabaseUnavailable(error)).toBe(true);
  expect(pool.totalCount).toBe(0);
  const { rows } = await withTransaction(pool, (client) =>
    client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid"),
  );
  expect(rows[0]?.pid).not.toBe(pid);
});

test("Prisma: a query and an interactive transaction past the bound fail as unavailable; the pool recovers", async () => {
  const { pool, pid } = await onePool();
  const db = createPrisma(pool);
  try {
    expect(isDatabaseUnavailable(await rejectionOf(db.$queryRawUnsafe(HANG)))).toBe(true);
    expect(pool.totalCount).toBe(0);
    const inTransaction = await rejectionOf(db.$transaction((tx) => tx.$queryRawUnsafe(HANG), { timeout: 20_000 }));
    expect(isDatabaseUnavailable(inTransaction)).toBe(true);
    const rows = await db.$queryRawUnsafe<{ pid: number }[]>("SELECT pg_backend_pid() AS pid");
    expect(rows[0]?.pid).not.toBe(pid);
    expect(pool.totalCount).toBe(1);
  } finally {
    await db.$disconnect();
  }
});

test("a long statement's own bound replaces the pool's; a cursor is not bounded by the pool", async () => {
  const { pool, pid } = await onePool();
  await pool.query(longStatement("SELECT pg_sleep($1)", [BOUND_MS / 500], 20_000));
  const client = await pool.connect();
  try {
    const cursor = client.query(new Cursor(`SELECT pg_sleep(${(BOUND_MS * 2) / 1000}) AS slept`));
    expect(await cursor.read(10)).toHaveLength(1);
    await cursor.close();
  } finally {
    client.release();
  }
  expect(await backendPid(pool)).toBe(pid); // the same connection throughout
});
