// A value Postgres cannot store (SQLSTATE class 22) is recognised whether it
// comes from raw pg or wrapped by Prisma, so it maps to BAD_REQUEST (tRPC) or
// a permanent failure (worker), never a 500 or a retry loop.
import { afterAll, beforeAll, expect, test } from "vitest";
import { isDataException } from "../../server/db/unavailable.js";
import { openTestDb, type TestDb } from "../support/db.js";

let database: TestDb;
beforeAll(async () => {
  database = await openTestDb();
});
afterAll(() => database?.close());

const caught = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => error,
  );

test("a NUL through raw pg is a data exception", async () => {
  const error = await caught(database.pool.query("SELECT $1::text", ["a\u0000b"]));
  expect(isDataException(error)).toBe(true);
});

test("a NUL through Prisma is a data exception", async () => {
  const error = await caught(database.db.job.findMany({ where: { idempotencyKey: "a\u0000b" } }));
  expect(error).toBeDefined();
  expect(isDataException(error)).toBe(true);
});

test("other errors are not", async () => {
  expect(isDataException(await caught(database.pool.query("SELECT * FROM no_such_table")))).toBe(false);
  expect(isDataException(new Error("boom"))).toBe(false);
  expect(isDataException(undefined)).toBe(false);
});
