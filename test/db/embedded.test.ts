// The embedded Postgres starts from a private folder (mode 700, as mktemp -d
// makes): as root it runs as the OS user postgres, which must be let through.
import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startEmbeddedPostgres } from "../../server/db/embedded.js";
import { createLogger } from "../../server/logger.js";
import { eventually } from "../support/app.js";

test("starts under a private (700) parent folder and answers queries", async () => {
  const privateDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-private-"));
  expect((await fs.stat(privateDir)).mode & 0o777).toBe(0o700);
  const database = await startEmbeddedPostgres(path.join(privateDir, "data"), createLogger("silent"), "probe");
  try {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query("SELECT current_database() AS db");
    await client.end();
    expect(rows).toEqual([{ db: "probe" }]);
  } finally {
    await database.stop();
    await fs.rm(privateDir, { recursive: true, force: true });
  }
}, 120_000);

// Ownership (issue 17): the postmaster runs in a process group of its own, so a
// terminal's Ctrl-C reaches only the app; postgres.json names the owner, which
// stops it at its exit. An instance whose owner died is adopted; a borrower
// takes over within 5 s of its owner's exit.
const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const logger = createLogger("silent");

interface State {
  port: number;
  pid: number;
  postmaster: number;
}

const readState = async (dataDir: string): Promise<State | undefined> =>
  JSON.parse(await fs.readFile(path.join(dataDir, "postgres.json"), "utf8").catch(() => "null")) ?? undefined;

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
const alive = async (pid: number) => ((await procStat(pid))?.state ?? "Z") !== "Z";

async function selectOne(url: string): Promise<unknown> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query("SELECT 1 AS one")).rows[0];
  } finally {
    await client.end();
  }
}

/** Another process that starts (owns) the embedded Postgres of `dataDir`; SIGTERM makes it stop it and exit. */
async function startOwner(dataDir: string): Promise<ChildProcess> {
  const script = path.join(dataDir, "..", "owner.mts");
  await fs.writeFile(
    script,
    `import { startEmbeddedPostgres } from ${JSON.stringify(pathToFileURL(path.join(ROOT, "server/db/embedded.ts")).href)};
import { createLogger } from ${JSON.stringify(pathToFileURL(path.join(ROOT, "server/logger.ts")).href)};
const db = await startEmbeddedPostgres(process.argv[2], createLogger("silent"), "probe");
process.on("SIGTERM", () => db.stop().then(() => process.exit(0)));
process.stdout.write("ready\\n");
setInterval(() => {}, 60_000);
`,
  );
  const owner = spawn(process.execPath, ["--import", "tsx", script, dataDir], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    owner.stdout?.on("data", (chunk: Buffer) => {
      if (chunk.toString().includes("ready")) resolve();
    });
    owner.on("exit", (code) => reject(new Error(`the owner process exited (${code})`)));
  });
  return owner;
}

describe("owning the embedded Postgres", () => {
  let dir: string;
  let dataDir: string;
  const owners: ChildProcess[] = [];
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-owner-"));
    dataDir = path.join(dir, "data");
  });
  afterAll(async () => {
    for (const owner of owners) owner.kill("SIGKILL");
    const postmaster = Number(
      (await fs.readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8").catch(() => "")).split("\n")[0],
    );
    if (postmaster && (await alive(postmaster))) process.kill(postmaster, "SIGQUIT");
    await fs.rm(dir, { recursive: true, force: true });
  });

  test("the postmaster runs in a process group of its own; stop() stops it and removes postgres.json", async () => {
    const database = await startEmbeddedPostgres(dataDir, logger, "probe");
    const postmaster = Number(
      (await fs.readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[0],
    );
    expect(await readState(dataDir)).toEqual({ port: expect.any(Number), pid: process.pid, postmaster });
    expect((await procStat(postmaster))?.pgid).toBe(postmaster);
    expect((await procStat(process.pid))?.pgid).not.toBe(postmaster);
    await database.stop();
    expect(await alive(postmaster)).toBe(false);
    expect(await readState(dataDir)).toBeUndefined();
  }, 120_000);

  test("an instance whose owner was killed is adopted by the next start, which stops it", async () => {
    const owner = await startOwner(dataDir);
    owners.push(owner);
    const before = (await readState(dataDir)) as State;
    expect(before.pid).toBe(owner.pid);
    owner.kill("SIGKILL");
    await eventually(async () => !(await alive(owner.pid as number)));
    expect(await alive(before.postmaster)).toBe(true);

    const database = await startEmbeddedPostgres(dataDir, logger, "probe");
    expect(await readState(dataDir)).toEqual({ ...before, pid: process.pid });
    await expect(selectOne(database.url)).resolves.toEqual({ one: 1 });
    await database.stop();
    expect(await alive(before.postmaster)).toBe(false);
    expect(await readState(dataDir)).toBeUndefined();
  }, 120_000);

  test("a borrower takes over within 5 s when its owner is killed (adopting the instance) or exits (starting one on the same port)", async () => {
    const killed = await startOwner(dataDir);
    owners.push(killed);
    const database = await startEmbeddedPostgres(dataDir, logger, "probe");
    const first = (await readState(dataDir)) as State;
    expect(first.pid).toBe(killed.pid); // borrowed
    killed.kill("SIGKILL");
    const adopted = await eventually(async () => {
      const state = await readState(dataDir);
      return state?.pid === process.pid ? state : undefined;
    }, 5_000);
    expect(adopted).toEqual({ ...first, pid: process.pid });
    await database.stop();
    expect(await alive(first.postmaster)).toBe(false);

    const exiting = await startOwner(dataDir);
    owners.push(exiting);
    const borrower = await startEmbeddedPostgres(dataDir, logger, "probe");
    const second = (await readState(dataDir)) as State;
    expect(second.pid).toBe(exiting.pid);
    const exited = new Promise((resolve) => exiting.on("exit", resolve));
    exiting.kill("SIGTERM"); // stops its Postgres, then exits
    await exited;
    const started = await eventually(async () => {
      const state = await readState(dataDir);
      return state?.pid === process.pid ? state : undefined;
    }, 5_000);
    expect(started.port).toBe(second.port); // the borrower's URL stays valid
    expect(started.postmaster).not.toBe(second.postmaster);
    await expect(selectOne(borrower.url)).resolves.toEqual({ one: 1 });
    await borrower.stop();
    expect(await alive(started.postmaster)).toBe(false);
    expect(await readState(dataDir)).toBeUndefined();
  }, 120_000);
});
