// The dev server's lifecycle, as real processes: `npm run dev` in a process
// group of its own, as a terminal starts it, with the embedded Postgres and the
// development SMTP sink (issue 17).
// - Ctrl-C (SIGINT to the whole group) with a job running: every process of
//   the group and every Postgres process exit within SHUTDOWN_GRACE_MS + 5 s,
//   and DATA_DIR/postgres.json is gone.
// - A SIGKILLed dev server leaves its Postgres running (its own group); the
//   next start adopts it and stops it at its exit.
// - Two dev servers on one DATA_DIR: the second borrows the first's Postgres
//   and sink, and takes both over within 5 s of the first's exit; no email of
//   the second is dead-lettered, and one in flight at the switch is retried.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs/promises";
import http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, expect, test } from "vitest";
import { eventually, trpcClient } from "../support/app.js";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const GRACE_MS = 2_000;
const spawned: ChildProcess[] = [];
const dataDirs: string[] = [];

interface Dev {
  /** The process group: npm, sh, tsx and the app's node. */
  pgid: number;
  url: string;
  token: string;
  output: () => string;
}

interface State {
  port: number;
  pid: number;
  postmaster?: number;
}

/** `npm run dev` in a process group of its own, as a terminal runs it; resolves once it serves. */
async function startDev(dataDir: string): Promise<Dev> {
  const child = spawn("npm", ["run", "dev"], {
    cwd: ROOT,
    detached: true,
    env: {
      ...process.env,
      DATA_DIR: dataDir,
      DATABASE_URL: "",
      SMTP_URL: "",
      PORT: "0",
      HOST: "",
      PUBLIC_URL: "",
      LOG_LEVEL: "info",
      SHUTDOWN_GRACE_MS: String(GRACE_MS),
    },
  });
  spawned.push(child);
  let output = "";
  child.stdout?.on("data", (d) => {
    output += d;
  });
  child.stderr?.on("data", (d) => {
    output += d;
  });
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });
  const url = await eventually(async () => {
    if (exited) throw new Error(`npm run dev exited:\n${output}`);
    return /Typed Jobs: (http:\/\/localhost:\d+)/.exec(output)?.[1];
  }, 90_000).catch((error: Error) => {
    throw new Error(`${error.message}\n${output.slice(-3000)}`, { cause: error });
  });
  const token = /\n\s+(tj_\S+)\n/.exec(output)?.[1] as string;
  return { pgid: child.pid as number, url, token, output: () => output };
}

async function newDataDir(): Promise<string> {
  await fs.mkdir(path.join(ROOT, ".data"), { recursive: true });
  const dir = await fs.mkdtemp(path.join(ROOT, ".data", "lifecycle-test-"));
  dataDirs.push(dir);
  return dir;
}

async function readState(dataDir: string, name: "postgres.json" | "smtp-sink.json"): Promise<State | undefined> {
  try {
    return JSON.parse(await fs.readFile(path.join(dataDir, name), "utf8")) as State;
  } catch {
    return undefined;
  }
}

/** The postmaster's pid, from its lock file. */
async function postmasterOf(dataDir: string): Promise<number> {
  const pidFile = await fs.readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8");
  return Number(pidFile.split("\n")[0]);
}

/** A process's state letter and group, from /proc (undefined once it is gone). */
async function procStat(pid: number): Promise<{ state: string; pgid: number } | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state: fields[0] as string, pgid: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs (a zombie has exited). */
async function alive(pid: number): Promise<boolean> {
  const stat = await procStat(pid);
  return stat !== undefined && stat.state !== "Z";
}

/** The live processes of group `pgid`, with their command lines. */
async function groupMembers(pgid: number): Promise<string[]> {
  const members: string[] = [];
  for (const entry of await fs.readdir("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await procStat(Number(entry));
    if (!stat || stat.pgid !== pgid || stat.state === "Z") continue;
    const cmdline = await fs.readFile(`/proc/${entry}/cmdline`, "utf8").catch(() => "");
    members.push(`${entry} ${cmdline.replaceAll("\0", " ").trim()}`);
  }
  return members;
}

/** Resolves once no process of group `pgid` (nor of Postgres's group) runs; the time it took. */
async function allGone(pgids: number[], timeoutMs: number): Promise<number> {
  const started = Date.now();
  await eventually(async () => {
    for (const pgid of pgids) if ((await groupMembers(pgid)).length > 0) return false;
    return true;
  }, timeoutMs).catch(async (error: Error) => {
    const left = (await Promise.all(pgids.map(groupMembers))).flat();
    throw new Error(`still running after ${timeoutMs} ms:\n${left.join("\n")}`, { cause: error });
  });
  return Date.now() - started;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // gone already
  }
}

/** Stops the dev server with Ctrl-C and checks that everything stopped in time, Postgres too; the time it took. */
async function ctrlC(dev: Dev, dataDir: string): Promise<number> {
  const postmaster = await postmasterOf(dataDir);
  signalGroup(dev.pgid, "SIGINT");
  // Every process of the dev server's group, and of Postgres's (the postmaster and its backends).
  const took = await allGone([dev.pgid, postmaster], GRACE_MS + 5_000).catch((error: Error) => {
    throw new Error(`${error.message}\n--- dev output:\n${dev.output().slice(-3000)}`, { cause: error });
  });
  expect(await readState(dataDir, "postgres.json")).toBeUndefined();
  expect(await readState(dataDir, "smtp-sink.json")).toBeUndefined();
  return took;
}

async function query<T extends pg.QueryResultRow>(dataDir: string, sql: string, params: unknown[]): Promise<T[]> {
  const state = await readState(dataDir, "postgres.json");
  const client = new pg.Client({
    connectionString: `postgresql://postgres:postgres@127.0.0.1:${state?.port}/typed_jobs`,
    connectionTimeoutMillis: 2000,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end().catch(() => {});
  }
}

afterAll(async () => {
  for (const child of spawned) if (child.pid) signalGroup(child.pid, "SIGKILL");
  for (const dir of dataDirs) {
    // A Postgres left running by a failed test: stopped, then its folder removed.
    const postmaster = await postmasterOf(dir).catch(() => 0);
    if (postmaster && (await alive(postmaster))) {
      process.kill(postmaster, "SIGQUIT");
      await eventually(async () => !(await alive(postmaster)), 10_000).catch(() => {});
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
}, 30_000);

test("Ctrl-C with a job running: npm, tsx, node and Postgres exit within SHUTDOWN_GRACE_MS + 5 s; postgres.json is gone", async () => {
  const dataDir = await newDataDir();
  // A webhook receiver that never answers: the delivery stays running.
  let arrived: () => void = () => {};
  const delivery = new Promise<void>((resolve) => {
    arrived = resolve;
  });
  const receiver = http.createServer(() => arrived());
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  try {
    const dev = await startDev(dataDir);
    const postmaster = await postmasterOf(dataDir);
    // Postgres runs in a process group of its own: the terminal's Ctrl-C does not reach it.
    expect((await procStat(postmaster))?.pgid).toBe(postmaster);
    expect((await readState(dataDir, "postgres.json"))?.postmaster).toBe(postmaster);

    const client = trpcClient(dev.url, dev.token);
    const address = receiver.address();
    const port = typeof address === "object" && address ? address.port : 0;
    const endpoint = await client.webhooks.createEndpoint.mutate({ url: `http://127.0.0.1:${port}/held` });
    const { jobId } = await client.jobs.enqueue.mutate({
      type: "webhook",
      payload: { endpointId: endpoint.id, event: "test.held", data: {} },
    });
    await delivery;
    expect((await client.jobs.get.query({ jobId })).status).toBe("running");

    const took = await ctrlC(dev, dataDir);
    expect(dev.output()).toContain('"msg":"shutting down"');
    // biome-ignore lint/suspicious/noConsole: how long the shutdown took
    console.log(`dev-lifecycle: Ctrl-C with a job running, everything stopped in ${took} ms (grace ${GRACE_MS} ms)`);
  } finally {
    receiver.closeAllConnections();
    receiver.close();
  }
}, 180_000);

test("a SIGKILLed dev server leaves Postgres running; the next start adopts it and stops it at its Ctrl-C", async () => {
  const dataDir = await newDataDir();
  const first = await startDev(dataDir);
  const postmaster = await postmasterOf(dataDir);
  signalGroup(first.pgid, "SIGKILL");
  await allGone([first.pgid], 10_000);
  expect(await alive(postmaster)).toBe(true);

  const second = await startDev(dataDir);
  const state = await readState(dataDir, "postgres.json");
  expect(state?.postmaster).toBe(postmaster); // the same instance, adopted
  expect((await procStat(state?.pid as number))?.pgid).toBe(second.pgid); // owned by the new server
  await eventually(async () => second.output().includes("adopted the running embedded Postgres"), 5_000);
  expect((await fetch(`${second.url}/healthz`)).status).toBe(200);

  await ctrlC(second, dataDir);
}, 180_000);

test("two dev servers on one DATA_DIR: the second takes over Postgres and the sink within 5 s of the first's exit; no email is dead-lettered", async () => {
  const dataDir = await newDataDir();
  const first = await startDev(dataDir);
  const second = await startDev(dataDir);
  const ownerGroup = async (name: "postgres.json" | "smtp-sink.json") => {
    const state = await readState(dataDir, name);
    return state ? (await procStat(state.pid))?.pgid : undefined;
  };
  // The second borrows the first's Postgres and sink.
  expect(await ownerGroup("postgres.json")).toBe(first.pgid);
  expect(await ownerGroup("smtp-sink.json")).toBe(first.pgid);

  // Emails enqueued on the second, one every 100 ms, from before the switch until after it.
  const client = trpcClient(second.url, second.token);
  const jobIds: string[] = [];
  let streaming = true;
  const stream = (async () => {
    for (let i = 0; streaming; i += 1) {
      await client.jobs.enqueue
        .mutate({ type: "email", payload: { to: `switch${i}@example.com`, subject: `Switch ${i}`, body: "b" } })
        .then(
          ({ jobId }) => jobIds.push(jobId),
          () => {}, // 503 while Postgres changes hands: not enqueued
        );
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  const succeeded = async () =>
    (
      await query<{ n: number }>(
        dataDir,
        "SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1) AND status = 'succeeded'",
        [jobIds],
      )
    )[0]?.n ?? 0;
  await eventually(async () => (await succeeded()) >= 5, 30_000);

  signalGroup(first.pgid, "SIGINT");
  await allGone([first.pgid], GRACE_MS + 5_000);
  const firstExited = Date.now();
  await eventually(
    async () =>
      (await ownerGroup("postgres.json")) === second.pgid && (await ownerGroup("smtp-sink.json")) === second.pgid,
    10_000,
  );
  expect(Date.now() - firstExited).toBeLessThanOrEqual(5_000);
  // Logged just after the state files are written.
  await eventually(
    async () =>
      second.output().includes("took over the embedded Postgres") &&
      second.output().includes("took over the development SMTP sink"),
    5_000,
  );

  // More emails after the switch, then every one ends succeeded and is in the sink.
  const atSwitch = jobIds.length;
  await eventually(async () => jobIds.length >= atSwitch + 10, 30_000);
  streaming = false;
  await stream;
  const rows = await eventually(async () => {
    const found = await query<{ id: string; status: string; attempt: number }>(
      dataDir,
      "SELECT id, status, attempt FROM jobs WHERE id = ANY($1) AND status IN ('succeeded', 'failed')",
      [jobIds],
    );
    return found.length === jobIds.length ? found : undefined;
  }, 90_000);
  expect(rows.filter((row) => row.status !== "succeeded")).toEqual([]);
  const stored = await query<{ message_id: string }>(
    dataDir,
    "SELECT message_id FROM sink_messages WHERE message_id = ANY($1)",
    [jobIds.map((id) => `<${id}@typed-jobs.local>`)],
  );
  expect(new Set(stored.map((row) => row.message_id)).size).toBe(jobIds.length);
  // biome-ignore lint/suspicious/noConsole: what the switch cost
  console.log(
    `dev-lifecycle: ${jobIds.length} emails across the switch, ${rows.filter((r) => r.attempt > 1).length} retried, none dead-lettered`,
  );

  await ctrlC(second, dataDir);
}, 240_000);

test("an email in flight to a borrowed sink when its owner dies is retried on the sink the borrower takes over", async () => {
  const dataDir = await newDataDir();
  const first = await startDev(dataDir);
  const second = await startDev(dataDir);
  const sink = (await readState(dataDir, "smtp-sink.json")) as State;
  const postmaster = await postmasterOf(dataDir);
  expect((await procStat(sink.pid))?.pgid).toBe(first.pgid);

  // The first server frozen: its sink accepts connections (the kernel does) but never greets.
  process.kill(sink.pid, "SIGSTOP");
  const client = trpcClient(second.url, second.token);
  const { jobId } = await client.jobs.enqueue.mutate({
    type: "email",
    payload: { to: "inflight@example.com", subject: "In flight", body: "b" },
  });
  // The second's connection to the frozen sink, established: the email is in flight.
  const hexPort = sink.port.toString(16).toUpperCase().padStart(4, "0");
  await eventually(async () => {
    const table = await fs.readFile("/proc/net/tcp", "utf8");
    return table.split("\n").some((line) => {
      const [, , remote, state] = line.trim().split(/\s+/);
      return state === "01" && remote?.endsWith(`:${hexPort}`);
    });
  }, 30_000);
  expect((await client.jobs.get.query({ jobId })).status).toBe("running");

  // The owner dies (Postgres, in its own group, does not): its sink's connections are reset.
  signalGroup(first.pgid, "SIGKILL");
  await allGone([first.pgid], 10_000);
  const job = await eventually(async () => {
    const current = await client.jobs.get.query({ jobId });
    return current.status === "succeeded" || current.status === "failed" ? current : undefined;
  }, 60_000);
  expect(job).toMatchObject({ status: "succeeded", inDeadLetterQueue: false });
  expect(job.attempt).toBeGreaterThan(1); // the attempt in flight failed, and was retried
  const mail = await trpcClient(second.url, second.token).devMail.list.query({});
  expect(mail.find((m) => m.messageId === `<${jobId}@typed-jobs.local>`)?.to).toEqual(["inflight@example.com"]);
  // The second owns both now: it adopted the running Postgres and started a sink on the same port.
  const postgresState = await readState(dataDir, "postgres.json");
  expect(postgresState?.postmaster).toBe(postmaster);
  expect((await procStat(postgresState?.pid as number))?.pgid).toBe(second.pgid);
  const sinkState = await readState(dataDir, "smtp-sink.json");
  expect(sinkState?.port).toBe(sink.port);
  expect((await procStat(sinkState?.pid as number))?.pgid).toBe(second.pgid);

  await ctrlC(second, dataDir);
}, 240_000);
