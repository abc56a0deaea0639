/**
 * The dev server's file guard. Vite serves any file it is allowed to under
 * `/@fs/<absolute path>`; the Vite config narrows that to the client's own
 * folders, and this guard refuses, whatever Vite's settings, the files that
 * must never leave the machine: DATA_DIR (the embedded Postgres, whose heap
 * holds the export-link signing key, and every user's export files),
 * EXPORT_DIR, server/, prisma/, .git/ and any .env* file.
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
  const raw = urlPath.slice("/@fs".length);
  let decoded: string[];
  try {
    // Vite decodes with decodeURI (so %3F stays); check that spelling, the
    // fully decoded one and the raw one: each must be safe.
    decoded = [raw, decodeURI(raw), decodeURIComponent(raw)];
  } catch {
    return true; // not decodable: refuse rather than guess what Vite would make of it
  }
  // A query or fragment marker inside the path is never a real file name here;
  // it is how a path is made to mean one thing to this check and another to Vite.
  if (decoded.some((p) => /[?#\0]/.test(p))) return true;
  return decoded.some((spelling) => {
    const file = path.resolve(spelling);
    if (file.split(path.sep).some((part) => part.startsWith(".env"))) return true;
    return protectedRoots.some((root) => isInside(file, root));
  });
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
