// schema.prisma, the generated Prisma client and the migrated database agree:
// every model is a table with exactly its fields as columns (names, types,
// nullability), the indexes Prisma would create exist, and the migrations are
// recorded in _prisma_migrations as `prisma migrate deploy` would record them.
import { createHash } from "node:crypto";
import fs from "node:fs/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import { MIGRATIONS_DIR, migrate, readMigrations } from "../../server/db/migrate.js";
import { Prisma } from "../../server/generated/prisma/client.js";
import { createLogger } from "../../server/logger.js";
import { openTestDb, type TestDb } from "../support/db.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

interface Field {
  name: string;
  column: string;
  type: string;
  optional: boolean;
  dbType: string | undefined;
  unique: boolean;
}
interface Model {
  name: string;
  table: string;
  fields: Field[];
  indexes: string[][];
  uniques: string[][];
}

const SCALARS = new Set(["String", "Int", "BigInt", "Boolean", "DateTime", "Json", "Decimal", "Float", "Bytes"]);

/** A small parser for the subset of the Prisma schema language this repo uses. */
function parseSchema(source: string): Model[] {
  const models: Model[] = [];
  for (const match of source.matchAll(/model (\w+) \{([^}]*)\}/g)) {
    const [, name = "", body = ""] = match;
    const model: Model = { name, table: name, fields: [], indexes: [], uniques: [] };
    for (const raw of body.split("\n")) {
      const line = raw.replace(/\/\/.*$/, "").trim();
      if (!line) continue;
      const blockMap = /^@@map\("(\w+)"\)/.exec(line);
      if (blockMap?.[1]) model.table = blockMap[1];
      const index = /^@@(index|unique)\(\[([^\]]*)\]/.exec(line);
      if (index?.[2]) {
        const columns = index[2].split(",").map((c) => c.trim().replace(/\(.*$/, ""));
        (index[1] === "index" ? model.indexes : model.uniques).push(columns);
      }
      if (line.startsWith("@@")) continue;
      const field = /^(\w+)\s+(Unsupported\("(\w+)"\)|\w+)(\[\])?(\?)?\s*(.*)$/.exec(line);
      if (!field) continue;
      const [, fieldName = "", type = "", unsupported, list, optional, attributes = ""] = field;
      const isScalar = unsupported !== undefined || SCALARS.has(type);
      if (!isScalar) continue;
      model.fields.push({
        name: fieldName,
        column: /@map\("(\w+)"\)/.exec(attributes)?.[1] ?? fieldName,
        type: unsupported ?? (list ? `${type}[]` : type),
        optional: optional === "?",
        dbType: /@db\.(\w+)/.exec(attributes)?.[1],
        unique: /@unique\b/.test(attributes),
      });
    }
    models.push(model);
  }
  return models;
}

function expectedPgType(field: Field): string {
  if (field.dbType === "Uuid") return "uuid";
  if (field.dbType === "SmallInt") return "smallint";
  if (field.dbType === "Timestamptz") return "timestamp with time zone";
  const byType: Record<string, string> = {
    String: "text",
    Int: "integer",
    BigInt: "bigint",
    Float: "double precision",
    Json: "jsonb",
    DateTime: "timestamp without time zone",
    Boolean: "boolean",
    xid8: "xid8",
    "String[]": "ARRAY",
  };
  return byType[field.type] ?? `unmapped ${field.type}`;
}

test("every model's fields are exactly its table's columns, with matching types and nullability", async () => {
  const models = parseSchema(await fs.readFile("prisma/schema.prisma", "utf8"));
  expect(models.map((m) => m.name).sort()).toEqual(
    [
      "ApiToken",
      "AppSecret",
      "ExportFile",
      "IdempotencyKey",
      "Job",
      "JobEvent",
      "JobReceipt",
      "RateBucket",
      "SignInFailure",
      "SinkMessage",
      "User",
      "WebhookAttempt",
      "WebhookEndpoint",
      "WorkerProcess",
      "Workflow",
      "WorkflowStep",
    ].sort(),
  );
  const { rows: columns } = await t.pool.query<{
    table_name: string;
    column_name: string;
    data_type: string;
    udt_name: string;
    is_nullable: "YES" | "NO";
  }>(
    `SELECT table_name, column_name, data_type, udt_name, is_nullable FROM information_schema.columns
      WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'`,
  );
  const tables = new Set(columns.map((c) => c.table_name));
  expect([...tables].sort()).toEqual(models.map((m) => m.table).sort());
  for (const model of models) {
    const live = columns.filter((c) => c.table_name === model.table);
    expect(live.map((c) => c.column_name).sort(), model.name).toEqual(model.fields.map((f) => f.column).sort());
    for (const field of model.fields) {
      const column = live.find((c) => c.column_name === field.column);
      const liveType = column?.data_type === "USER-DEFINED" ? column.udt_name : column?.data_type;
      expect({ column: field.column, type: liveType, nullable: column?.is_nullable === "YES" }, model.name).toEqual({
        column: field.column,
        type: expectedPgType(field),
        nullable: field.optional,
      });
    }
  }
});

test("the indexes and unique constraints declared in schema.prisma exist under Prisma's names", async () => {
  const models = parseSchema(await fs.readFile("prisma/schema.prisma", "utf8"));
  const { rows } = await t.pool.query<{ indexname: string }>(
    "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'",
  );
  const live = new Set(rows.map((r) => r.indexname));
  for (const model of models) {
    const column = (name: string) => model.fields.find((f) => f.name === name)?.column ?? name;
    for (const index of model.indexes)
      expect(live, model.name).toContain(`${model.table}_${index.map(column).join("_")}_idx`);
    for (const unique of model.uniques)
      expect(live, model.name).toContain(`${model.table}_${unique.map(column).join("_")}_key`);
    for (const field of model.fields.filter((f) => f.unique))
      expect(live).toContain(`${model.table}_${field.column}_key`);
    expect(live).toContain(`${model.table}_pkey`);
  }
});

test("the generated Prisma client is current with schema.prisma", async () => {
  const models = parseSchema(await fs.readFile("prisma/schema.prisma", "utf8"));
  const enums: Record<string, Record<string, string>> = {
    User: Prisma.UserScalarFieldEnum,
    ApiToken: Prisma.ApiTokenScalarFieldEnum,
    Job: Prisma.JobScalarFieldEnum,
    JobEvent: Prisma.JobEventScalarFieldEnum,
    IdempotencyKey: Prisma.IdempotencyKeyScalarFieldEnum,
    JobReceipt: Prisma.JobReceiptScalarFieldEnum,
    SinkMessage: Prisma.SinkMessageScalarFieldEnum,
    ExportFile: Prisma.ExportFileScalarFieldEnum,
    WebhookEndpoint: Prisma.WebhookEndpointScalarFieldEnum,
    WebhookAttempt: Prisma.WebhookAttemptScalarFieldEnum,
    AppSecret: Prisma.AppSecretScalarFieldEnum,
    WorkerProcess: Prisma.WorkerProcessScalarFieldEnum,
    Workflow: Prisma.WorkflowScalarFieldEnum,
    WorkflowStep: Prisma.WorkflowStepScalarFieldEnum,
    RateBucket: Prisma.RateBucketScalarFieldEnum,
    SignInFailure: Prisma.SignInFailureScalarFieldEnum,
  };
  for (const model of models) {
    // Unsupported fields are not part of the client.
    const supported = model.fields.filter((f) => f.type !== "xid8").map((f) => f.name);
    expect(Object.keys(enums[model.name] ?? {}).sort(), model.name).toEqual(supported.sort());
  }
});

test("applied migrations are recorded in _prisma_migrations with SHA-256 checksums, as prisma migrate would", async () => {
  const migrations = await readMigrations();
  expect(migrations.length).toBeGreaterThan(0);
  const { rows } = await t.pool.query(
    `SELECT id, checksum, migration_name, finished_at, rolled_back_at, applied_steps_count, logs
       FROM _prisma_migrations ORDER BY migration_name`,
  );
  expect(rows).toHaveLength(migrations.length);
  for (const [i, migration] of migrations.entries()) {
    const bytes = await fs.readFile(`${MIGRATIONS_DIR}/${migration.name}/migration.sql`);
    expect(rows[i]).toMatchObject({
      migration_name: migration.name,
      checksum: createHash("sha256").update(bytes).digest("hex"),
      rolled_back_at: null,
      applied_steps_count: 1,
    });
    expect(rows[i].finished_at).toBeInstanceOf(Date);
    expect(rows[i].id).toMatch(/^[0-9a-f-]{36}$/);
  }
  await expect(fs.readFile(`${MIGRATIONS_DIR}/migration_lock.toml`, "utf8")).resolves.toContain(
    'provider = "postgresql"',
  );
});

test("migrating again applies nothing, and concurrent migrators serialise on the advisory lock", async () => {
  const logger = createLogger("silent");
  const results = await Promise.all([migrate(t.pool, logger), migrate(t.pool, logger), migrate(t.pool, logger)]);
  expect(results).toEqual([[], [], []]);
  const { rows } = await t.pool.query("SELECT count(*)::int AS n FROM _prisma_migrations");
  expect(rows[0].n).toBe((await readMigrations()).length);
});

test("a fresh database is migrated by concurrent starters exactly once (app and graphile-worker schemas)", async () => {
  const { rows } = await t.pool.query("SELECT current_database() AS db");
  const fresh = `${rows[0].db}_fresh`;
  const { createPool, longStatement } = await import("../../server/db/pool.js");
  // Creating and dropping a database copy files and checkpoint: on a loaded
  // machine they can outlast the pool's 10 s bound (seen once in CI).
  await t.pool.query(longStatement(`CREATE DATABASE "${fresh}"`));
  const url = new URL(t.url);
  url.pathname = `/${fresh}`;
  const pools = [createPool(url.toString(), 3), createPool(url.toString(), 3)];
  try {
    const logger = createLogger("silent");
    const applied = await Promise.all(pools.map((p) => migrate(p, logger)));
    expect(applied.flat()).toEqual((await readMigrations()).map((m) => m.name));
    const check = await pools[0]?.query(
      "SELECT to_regclass('graphile_worker._private_jobs') AS gw, to_regclass('public.jobs') AS jobs",
    );
    expect(check?.rows[0]).toEqual({ gw: "graphile_worker._private_jobs", jobs: "jobs" });
  } finally {
    await Promise.all(pools.map((p) => p.end()));
    await t.pool.query(longStatement(`DROP DATABASE "${fresh}" WITH (FORCE)`));
  }
});
