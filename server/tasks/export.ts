/**
 * The export task: streams the caller's jobs (with their events) through a
 * server-side cursor into CSV or NDJSON, optionally gzipped, never holding the
 * table in memory. It writes a temporary file and renames it into place only
 * when complete, so a retry, a timeout or a crash never leaves a partial file
 * to download; the result carries a signed, expiring download link.
 */

import { createWriteStream } from "node:fs";
import fs from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import Cursor from "pg-cursor";
import { exportJob, type JobPayload } from "../../shared/jobs.js";
import { longStatement } from "../db/pool.js";
import { csvRow } from "../exports/csv.js";
import { signedDownloadUrl } from "../exports/links.js";
import { defineTask } from "./types.js";

const BATCH = 500;
const PROGRESS_EVERY_MS = 250;

export const EXPORT_COLUMNS = [
  "id",
  "type",
  "status",
  "attempt",
  "max_attempts",
  "priority",
  "idempotency_key",
  "created_at",
  "started_at",
  "completed_at",
  "error",
  "payload",
  "result",
  "events",
] as const;

type Filter = NonNullable<JobPayload<"export">["filter"]>;

/** The WHERE clause and parameters selecting the owner's jobs that match the filter. */
function selection(ownerId: string, filter: Filter | undefined) {
  const params: unknown[] = [ownerId];
  const where = ["j.owner_id = $1"];
  const add = (clause: string, value: unknown) => {
    params.push(value);
    where.push(clause.replace("?", `$${params.length}`));
  };
  if (filter?.type) add("j.type = ?", filter.type);
  if (filter?.status) add("j.status = ?", filter.status);
  if (filter?.from) add("j.created_at >= ?::timestamptz", filter.from);
  if (filter?.to) add("j.created_at < ?::timestamptz", filter.to);
  return { where: where.join(" AND "), params };
}

export function exportFileName(jobId: string, format: "csv" | "ndjson", gzip: boolean): string {
  return `${jobId}.${format}${gzip ? ".gz" : ""}`;
}

export const exportTask = defineTask({
  type: "export",
  schema: exportJob,
  maxAttempts: 3,
  backoff: { baseMs: 5_000, maxMs: 60_000 },
  timeouts: { softMs: 10 * 60_000, hardMs: 11 * 60_000 },
  async run({ jobId, attempt, payload, signal, progress, services, logger }) {
    const { pool, db, config } = services;
    const { rows: owners } = await pool.query<{ owner_id: string }>("SELECT owner_id FROM jobs WHERE id = $1", [jobId]);
    const ownerId = owners[0]?.owner_id;
    if (!ownerId) throw new Error(`job ${jobId} vanished`);
    const { where, params } = selection(ownerId, payload.filter);
    // A big owner's count can outlast DB_QUERY_TIMEOUT_MS; the cursor below is
    // not bounded by the pool: this task's time limits bound it.
    const { rows: counted } = await pool.query<{ n: string }>(
      longStatement(`SELECT count(*) AS n FROM jobs j WHERE ${where}`, params),
    );
    const total = Number(counted[0]?.n ?? 0);
    progress({ percent: 0, note: `Exporting ${total} jobs`, rowsDone: 0, rowsTotal: total });

    const gzip = payload.gzip ?? false;
    // Owner-only: an export holds a user's data. Servers and workers sharing
    // EXPORT_DIR must run as one OS user (docs in the README's security section).
    await fs.mkdir(config.exportDir, { recursive: true, mode: 0o700 });
    const finalPath = path.join(config.exportDir, exportFileName(jobId, payload.format, gzip));
    const tempPath = `${finalPath}.${attempt}.${process.pid}.tmp`;

    const client = await pool.connect();
    let rowsDone = 0;
    let failed: Error | undefined;
    try {
      // Rows arrive as text (JSON columns serialised by Postgres, NDJSON lines
      // built there too), so the worker only copies strings: no per-row parse
      // and re-serialise, which keeps garbage, and so memory, low.
      const columns = `j.id, j.type, j.status, j.attempt, j.max_attempts, j.priority, j.idempotency_key,
                  to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at,
                  to_char(j.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS started_at,
                  to_char(j.completed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS completed_at,
                  j.error, j.payload, j.result,
                  COALESCE((SELECT json_agg(json_build_object('at', e.at, 'kind', e.kind, 'status', e.status,
                                                              'attempt', e.attempt, 'error', e.error)
                                            ORDER BY e.txid, e.id)
                              FROM job_events e WHERE e.job_id = j.id), '[]'::json) AS events`;
      const sql =
        payload.format === "ndjson"
          ? `SELECT row_to_json(x)::text AS line FROM (SELECT ${columns} FROM jobs j WHERE ${where}
               ORDER BY j.created_at, j.id) x`
          : `SELECT j.id::text, j.type, j.status, j.attempt::text, j.max_attempts::text, j.priority::text,
                    j.idempotency_key, created_at, started_at, completed_at, j.error,
                    j.payload::text AS payload, j.result::text AS result, events::text AS events
               FROM (SELECT ${columns} FROM jobs j WHERE ${where} ORDER BY j.created_at, j.id) j`;
      const cursor = client.query(new Cursor(sql, params, { rowMode: "array" }));
      let lastReport = Date.now();
      async function* lines() {
        if (payload.format === "csv") yield csvRow(EXPORT_COLUMNS);
        for (;;) {
          const rows = await cursor.read(BATCH);
          if (rows.length === 0) break;
          let chunk = "";
          for (const row of rows as (string | null)[][]) {
            chunk += payload.format === "csv" ? csvRow(row) : `${row[0]}\n`;
          }
          rowsDone += rows.length;
          yield chunk;
          if (Date.now() - lastReport >= PROGRESS_EVERY_MS) {
            lastReport = Date.now();
            progress({
              percent: total === 0 ? 100 : Math.min(99, (rowsDone / total) * 100),
              note: `${rowsDone} of ${total} rows`,
              rowsDone,
              rowsTotal: total,
            });
          }
        }
        await cursor.close();
      }
      const stages = gzip
        ? pipeline(Readable.from(lines()), createGzip(), createWriteStream(tempPath, { mode: 0o600 }), { signal })
        : pipeline(Readable.from(lines()), createWriteStream(tempPath, { mode: 0o600 }), { signal });
      await stages;
      await fs.rename(tempPath, finalPath);
    } catch (error) {
      failed = error instanceof Error ? error : new Error(String(error));
      await fs.rm(tempPath, { force: true });
      throw signal.aborted ? signal.reason : error;
    } finally {
      // A connection whose cursor was cut off mid-read is closed, not reused.
      client.release(failed);
    }

    const bytes = (await fs.stat(finalPath)).size;
    const expiresAt = new Date(Date.now() + config.EXPORT_LINK_TTL_HOURS * 3600_000);
    await db.exportFile.upsert({
      where: { jobId },
      create: { jobId, path: finalPath, format: payload.format, gzip, rows: rowsDone, bytes, expiresAt },
      update: { path: finalPath, format: payload.format, gzip, rows: rowsDone, bytes, expiresAt },
    });
    progress({ percent: 100, note: `${rowsDone} rows`, rowsDone, rowsTotal: total });
    logger.info({ rows: rowsDone, bytes }, "export written");
    return {
      rows: rowsDone,
      bytes,
      downloadUrl: await signedDownloadUrl(db, jobId, expiresAt, config.PUBLIC_URL),
      expiresAt: expiresAt.toISOString(),
    };
  },
});
