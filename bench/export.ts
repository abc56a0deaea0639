/**
 * `npm run bench:export -- --rows 1000000`: seeds N jobs on a fresh embedded
 * Postgres (or BENCH_DATABASE_URL), runs one export in a separate worker
 * process, and reports that process's peak RSS and the rows per second.
 * Results are printed and written to bench-results/ (git-ignored).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { startEmbeddedPostgres } from "../server/db/embedded.js";
import { migrate } from "../server/db/migrate.js";
import { createPool, createPrisma } from "../server/db/pool.js";
import { enqueueJobs } from "../server/lifecycle/enqueue.js";
import { seedJobs } from "../server/lifecycle/seed.js";
import { createLogger } from "../server/logger.js";

function option(name: string, fallback: string): string {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

const rows = Number(option("rows", "1000000"));
const format = option("format", "csv") as "csv" | "ndjson";
const gzip = process.argv.includes("--gzip");
const logger = createLogger("warn", "bench", "stderr");
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), "typed-jobs-bench-"));

let url = process.env.BENCH_DATABASE_URL;
let stopPostgres = async () => {};
if (!url) {
  const embedded = await startEmbeddedPostgres(dataDir, logger, `bench_${randomBytes(4).toString("hex")}`);
  url = embedded.url;
  stopPostgres = embedded.stop;
}
const pool = createPool(url, 4);
const db = createPrisma(pool);
try {
  await migrate(pool, logger);
  const user = await db.user.create({ data: { email: `bench-${Date.now()}@example.com` } });
  const seedStart = Date.now();
  await seedJobs(pool, user.id, rows);
  process.stderr.write(`seeded ${rows} jobs in ${((Date.now() - seedStart) / 1000).toFixed(1)} s\n`);
  const [jobId] = await enqueueJobs(pool, user.id, [{ type: "export", payload: { format, gzip } }], {
    idempotencyTtlHours: 24,
  });

  const exportDir = path.join(dataDir, "exports");
  // The same command as `npm run worker` (its V8 heap settings included).
  const heapMb = process.env.WORKER_HEAP_MB ?? "128";
  const worker = spawn(
    process.execPath,
    [`--max-old-space-size=${heapMb}`, "--max-semi-space-size=4", "--import", "tsx", "server/worker-main.ts"],
    {
      env: {
        ...process.env,
        DATABASE_URL: url,
        EXPORT_DIR: exportDir,
        LOG_LEVEL: "warn",
        SMTP_URL: "smtp://127.0.0.1:2525",
      },
      stdio: "inherit",
    },
  );
  const started = Date.now();
  let peakKb = 0;
  let status = "pending";
  while (!["succeeded", "failed"].includes(status)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const proc = await fs.readFile(`/proc/${worker.pid}/status`, "utf8").catch(() => "");
    const hwm = /VmHWM:\s+(\d+) kB/.exec(proc)?.[1];
    if (hwm) peakKb = Math.max(peakKb, Number(hwm));
    const job = await db.job.findUniqueOrThrow({ where: { id: jobId as string } });
    status = job.status;
  }
  const job = await db.job.findUniqueOrThrow({ where: { id: jobId as string } });
  const seconds = ((job.completedAt ?? new Date()).getTime() - (job.startedAt ?? new Date(started)).getTime()) / 1000;
  worker.kill("SIGTERM");
  const result = job.result as { rows: number; bytes: number } | null;
  const report = {
    benchmark: "export",
    machine: `${os.cpus().length} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, node ${process.version}`,
    format,
    gzip,
    status,
    rows: result?.rows ?? 0,
    bytes: result?.bytes ?? 0,
    seconds: Number(seconds.toFixed(2)),
    rowsPerSecond: Math.round((result?.rows ?? 0) / seconds),
    workerPeakRssMb: Math.round(peakKb / 1024),
  };
  process.stdout.write(
    [
      "",
      "| export | rows | seconds | rows/s | worker peak RSS |",
      "| --- | ---: | ---: | ---: | ---: |",
      `| ${format}${gzip ? "+gzip" : ""} | ${report.rows} | ${report.seconds} | ${report.rowsPerSecond} | ${report.workerPeakRssMb} MB |`,
      "",
    ].join("\n"),
  );
  await fs.mkdir("bench-results", { recursive: true });
  await fs.writeFile(path.join("bench-results", `export-${Date.now()}.json`), JSON.stringify(report, null, 2));
  if (status !== "succeeded") process.exitCode = 1;
} finally {
  await db.$disconnect();
  await pool.end();
  await stopPostgres();
  await fs.rm(dataDir, { recursive: true, force: true });
}
