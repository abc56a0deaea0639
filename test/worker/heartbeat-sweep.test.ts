// The heartbeat sweep (server/worker/heartbeat.ts) takes only really silent
// processes for dead: not one that comes back within the threshold after a
// time when nobody could heartbeat (a database outage, a paused machine); and a
// sweep that fails partway leaves the dead process to a later one.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { writeBatch } from "../../server/lifecycle/batched-writes.js";
import { createLogger } from "../../server/logger.js";
import { Heartbeat } from "../../server/worker/heartbeat.js";
import { openTestDb, type TestDb } from "../support/db.js";
import { enqueueOne, makeUser, sleep } from "../support/fixtures.js";

let t: TestDb;
beforeAll(async () => {
  t = await openTestDb();
});
afterAll(() => t?.close());

const logger = createLogger(process.env.TEST_LOG_LEVEL ?? "silent", "test-heartbeat", "stderr");

async function status(jobId: string) {
  return (await t.db.job.findUniqueOrThrow({ where: { id: jobId } })).status;
}

async function registered(processId: string) {
  const { rowCount } = await t.pool.query("SELECT 1 FROM worker_processes WHERE id = $1", [processId]);
  return rowCount === 1;
}

test("after a time when no process could heartbeat, one that comes back within the threshold is not swept", async () => {
  const owner = await makeUser(t.db, "outage@example.com");
  const jobId = await enqueueOne(t.pool, owner);
  // Process B runs the job, then nobody could heartbeat for a minute (its row is as old as that).
  const b = new Heartbeat(t.pool, logger, { intervalMs: 3_600_000, timeoutMs: 1_000 });
  await b.start();
  await writeBatch(t.pool, [{ kind: "start", jobId, processId: b.processId }]);
  await t.pool.query("UPDATE worker_processes SET last_heartbeat_at = now() - interval '1 minute' WHERE id = $1", [
    b.processId,
  ]);
  // Process A is first back, heartbeating (and sweeping) every 100 ms; B comes back 400 ms later, well
  // within the threshold, and beats as it does.
  const a = new Heartbeat(t.pool, logger, { intervalMs: 100, timeoutMs: 1_000 });
  await a.start();
  try {
    await sleep(400);
    for (let i = 0; i < 15; i++) {
      await sleep(100);
      await t.pool.query("UPDATE worker_processes SET last_heartbeat_at = now() WHERE id = $1", [b.processId]);
    }
    expect(await status(jobId)).toBe("running");
    expect(await registered(b.processId)).toBe(true);
    // B now falls silent for good: A sweeps it past the threshold.
    for (let i = 0; i < 50 && (await registered(b.processId)); i++) await sleep(100);
    expect(await registered(b.processId)).toBe(false);
    expect(await status(jobId)).toBe("retrying");
  } finally {
    await a.stop();
  }
});

test("an outage shorter than the threshold does not get a live process swept by the first one back", async () => {
  const owner = await makeUser(t.db, "short-outage@example.com");
  const jobId = await enqueueOne(t.pool, owner);
  const bId = randomUUID();
  await t.pool.query(
    "INSERT INTO worker_processes (id, hostname, pid, graphile_worker_ids) VALUES ($1, 'b', 2, '{}')",
    [bId],
  );
  await writeBatch(t.pool, [{ kind: "start", jobId, processId: bId }]);
  // The "outage": while this table holds a row, no heartbeat can be written.
  await t.pool.query(`
    CREATE TABLE outage (on_since timestamptz);
    CREATE FUNCTION outage() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM outage) THEN RAISE EXCEPTION 'database away'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER outage BEFORE UPDATE ON worker_processes FOR EACH ROW EXECUTE FUNCTION outage();`);
  // B's heartbeats, written by hand: B is alive throughout, held back only by the outage.
  const beatB = () => t.pool.query("UPDATE worker_processes SET last_heartbeat_at = now() WHERE id = $1", [bId]);
  const a = new Heartbeat(t.pool, logger, { intervalMs: 100, timeoutMs: 1_000 });
  await a.start();
  try {
    for (let i = 0; i < 6; i++) {
      await sleep(200);
      await beatB(); // A has now been healthy for more than the threshold
    }
    await t.pool.query("INSERT INTO outage VALUES (now())");
    await sleep(700); // shorter than the threshold: A's own heartbeats fail, but no gap of A's reaches it
    await t.pool.query("DELETE FROM outage");
    // B comes back 450 ms after the database: its silence (1.15 s) is past the threshold, though it
    // never stopped; A, back first and sweeping every 100 ms, must not take it for dead.
    await sleep(450);
    await beatB();
    for (let i = 0; i < 3; i++) {
      await sleep(200);
      await beatB();
    }
    expect(await status(jobId)).toBe("running");
    expect(await registered(bId)).toBe(true);
  } finally {
    await a.stop();
    await t.pool.query("DROP TRIGGER outage ON worker_processes; DROP FUNCTION outage(); DROP TABLE outage");
    await t.pool.query("DELETE FROM worker_processes WHERE id = $1", [bId]);
  }
});

test("a sweep that fails partway leaves the dead process to the next sweep", async () => {
  const owner = await makeUser(t.db, "partway@example.com");
  const jobId = await enqueueOne(t.pool, owner);
  const dead = randomUUID();
  await t.pool.query(
    `INSERT INTO worker_processes (id, hostname, pid, graphile_worker_ids, last_heartbeat_at)
     VALUES ($1, 'gone', 1, ARRAY['dead-worker'], now() - interval '1 hour')`,
    [dead],
  );
  await writeBatch(t.pool, [{ kind: "start", jobId, processId: dead }]);
  // The first crash record fails (say, the database restarting mid-sweep); later ones go through.
  await t.pool.query(`
    CREATE SEQUENCE fail_once;
    CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF nextval('fail_once') = 1 THEN RAISE EXCEPTION 'injected failure'; END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER fail_once BEFORE UPDATE ON jobs FOR EACH ROW WHEN (NEW.status = 'retrying')
      EXECUTE FUNCTION fail_once();`);
  const sweeper = new Heartbeat(t.pool, logger, { intervalMs: 3_600_000, timeoutMs: 1_000 });
  await sweeper.start();
  try {
    // Silence counts from when the sweeper came up: wait out the threshold.
    await sleep(1_100);
    await expect(sweeper.sweep()).rejects.toThrow(/injected failure/);
    expect(await registered(dead)).toBe(true);
    expect(await status(jobId)).toBe("running");
    // The failed sweep's claim holds the row for a threshold; then a sweep takes it again.
    expect(await sweeper.sweep()).toBe(0);
    await sleep(1_100);
    expect(await sweeper.sweep()).toBe(1);
    expect(await registered(dead)).toBe(false);
    expect(await status(jobId)).toBe("retrying");
  } finally {
    await sweeper.stop();
    await t.pool.query("DROP TRIGGER fail_once ON jobs; DROP FUNCTION fail_once(); DROP SEQUENCE fail_once");
  }
});
