/**
 * The dev server's file guard. Vite serves any file it is allowed to under
 * `/@fs/<absolute path>`; the Vite config narrows that to the client's own
 * folders, and this guard refuses, whatever Vite's settings, the files that
 * must never leave the machine: DATA_DIR (the embedded Postgres, whose heap
 * holds the export-link signing key, and every user's export files),
 * EXPORT_DIR, server/, prisma/, .git/ and .env files.
 */
import path from "node:path";
import type express from "express";

export function protectedPaths(root: string, dataDir: string, exportDir: string): string[] {
  return [dataDir, exportDir, ...["server", "prisma", ".git"].map((name) => path.join(root, name))].map((p) =>
    path.resolve(p),
  );
}

function isInside(file: string, folder: string): boolean {
  const relative = path.relative(folder, file);
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
}

/** Whether a request path names a protected file through Vite's /@fs/ prefix. */
export function isProtectedFsRequest(urlPath: string, protectedRoots: string[]): boolean {
  if (!urlPath.startsWith("/@fs/")) return false;
  let decoded: string;
  try {
    decoded = decodeURIComponent(urlPath.slice("/@fs".length));
  } catch {
    return true; // not decodable: refuse rather than guess what Vite would make of it
  }
  const file = path.resolve(decoded.split("?", 1)[0] ?? decoded);
  if (file.split(path.sep).some((part) => part === ".env" || part.startsWith(".env."))) return true;
  return protectedRoots.some((root) => isInside(file, root));
}

export function devFileGuard(protectedRoots: string[]): express.RequestHandler {
  return (req, res, next) => {
    if (isProtectedFsRequest(req.path, protectedRoots)) {
      res.status(403).type("text/plain").send("Forbidden");
      return;
    }
    next();
  };
}
