/**
 * server/exports/ (services) owns what an export hands out: CSV encoding (csv.ts) and signed, expiring download
 * links (here). Must not: import anything above the services layer; the export job type is
 * server/tasks/export.ts and the download route server/http/export-downloads.ts.
 *
 * Signed download links, like presigned object-store URLs: anyone holding the
 * link may download until it expires. The key is generated once and kept in
 * app_secrets, so every server process signs and verifies alike.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import type { Db } from "../db/pool.js";

const SECRET_NAME = "export_link_signing_key";

async function signingKey(db: Db): Promise<string> {
  const existing = await db.appSecret.findUnique({ where: { name: SECRET_NAME } });
  if (existing) return existing.value;
  // Two processes may race here: the first insert wins and both read it back.
  await db.appSecret.createMany({
    data: [{ name: SECRET_NAME, value: randomBytes(32).toString("base64url") }],
    skipDuplicates: true,
  });
  return (await db.appSecret.findUniqueOrThrow({ where: { name: SECRET_NAME } })).value;
}

function signature(key: string, jobId: string, expires: number): string {
  return createHmac("sha256", key).update(`${jobId}.${expires}`).digest("base64url");
}

export function downloadPath(jobId: string): string {
  return `/api/exports/${jobId}/download`;
}

export async function signedDownloadUrl(
  db: Db,
  jobId: string,
  expiresAt: Date,
  publicUrl: string | undefined,
): Promise<string> {
  const expires = Math.floor(expiresAt.getTime() / 1000);
  const query = `expires=${expires}&signature=${signature(await signingKey(db), jobId, expires)}`;
  return `${publicUrl?.replace(/\/$/, "") ?? ""}${downloadPath(jobId)}?${query}`;
}

/** True when the link's signature matches and it has not expired. */
export async function verifyDownloadLink(
  db: Db,
  jobId: string,
  expires: string | undefined,
  given: string | undefined,
): Promise<boolean> {
  if (!expires || !given || !/^\d{1,12}$/.test(expires)) return false;
  if (Number(expires) * 1000 < Date.now()) return false;
  const expected = Buffer.from(signature(await signingKey(db), jobId, Number(expires)));
  const actual = Buffer.from(given);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}
