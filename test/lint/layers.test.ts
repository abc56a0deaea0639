// scripts/check-layers.ts run against small planted trees: a clean one passes, and
// each rule, broken on its own, fails the run and names the file and the rule.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const repoRoot = fileURLToPath(new URL("../..", import.meta.url));
const script = path.join(repoRoot, "scripts/check-layers.ts");

function runChecker(root: string) {
  const result = spawnSync(process.execPath, ["--import", "tsx", script, root], { cwd: repoRoot, encoding: "utf8" });
  const output = `${result.stdout}${result.stderr}`;
  return { status: result.status, output, lines: output.trim().split("\n") };
}

// Writes the files into a fresh temp root, runs the checker there, removes the root.
function check(files: Record<string, string>) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "check-layers-"));
  try {
    for (const [file, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
      fs.writeFileSync(path.join(root, file), text);
    }
    return runChecker(root);
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

const cleanTree: Record<string, string> = {
  "shared/states.ts": `import { z } from "zod";\nexport const State = z.enum(["pending", "done"]);\n`,
  "server/db/pool.ts": `import fs from "node:fs";\nimport { State } from "../../shared/states.js";\nexport const pool = { fs, State };\n`,
  "server/jobs/queries.ts": `import { pool } from "../db/pool.js";\nexport const list = () => pool;\n`,
  "server/http/routers/_app.ts": `import { list } from "../../jobs/queries.js";\nexport const appRouter = { list };\nexport type AppRouter = typeof appRouter;\n`,
  "client/src/trpc.ts": `import type { AppRouter } from "../../server/http/routers/_app.js";\nexport type Router = AppRouter;\n`,
  // Generated Prisma code is skipped, whatever it imports.
  "server/generated/prisma/client.ts": `import "../../http/routers/_app.js";\n`,
};

describe("check-layers", () => {
  it("passes a clean tree", () => {
    const { status, output } = check(cleanTree);
    expect(output).toContain("layers: 5 files, no violations");
    expect(status).toBe(0);
  });

  it("reports a value import cycle once, as the path around it", () => {
    const { status, lines } = check({
      "server/jobs/a.ts": `import { b } from "./b.js";\nexport const a = () => b;\n`,
      "server/jobs/b.ts": `import { a } from "./a.js";\nexport const b = () => a;\n`,
    });
    expect(status).toBe(1);
    expect(lines.filter((line) => line.includes("import cycle"))).toEqual([
      "server/jobs/a.ts -> server/jobs/b.ts -> server/jobs/a.ts: import cycle (type-only and dynamic imports do not count)",
    ]);
  });

  it("does not count a type-only import in a cycle", () => {
    const { status, output } = check({
      "server/jobs/a.ts": `import type { B } from "./b.js";\nexport const a = (b: B) => b;\n`,
      "server/jobs/b.ts": `import { a } from "./a.js";\nexport type B = number;\nexport const b = a;\n`,
    });
    expect(output).not.toContain("import cycle");
    expect(status).toBe(0);
  });

  it("keeps shared/ free of Node builtins and of the server", () => {
    const { status, lines } = check({
      "shared/x.ts": `import fs from "node:fs";\nexport const x = fs;\n`,
      "shared/y.ts": `import path from "path";\nimport type { Z } from "../server/db/z.js";\nexport const y: Z = path.sep;\n`,
      "server/db/z.ts": `export type Z = string;\n`,
    });
    expect(status).toBe(1);
    expect(lines).toContain(
      "shared/x.ts -> node:fs: shared/ is isomorphic: it imports no Node builtins or server-only packages",
    );
    expect(lines).toContain(
      "shared/y.ts -> path: shared/ is isomorphic: it imports no Node builtins or server-only packages",
    );
    expect(lines).toContain(
      "shared/y.ts -> server/db/z.ts: shared/ is isomorphic: it imports nothing from server/ or client/",
    );
  });

  it("lets the client import the server only with `import type`", () => {
    const server = {
      "server/http/routers/_app.ts": `export const appRouter = {};\nexport type AppRouter = typeof appRouter;\n`,
    };
    const inline = check({
      ...server,
      "client/src/a.ts": `import { type AppRouter } from "../../server/http/routers/_app.js";\nexport type A = AppRouter;\n`,
    });
    expect(inline.status).toBe(1);
    expect(inline.output).toContain(
      "client/src/a.ts -> server/http/routers/_app.ts: the client imports the server only",
    );

    const typeOnly = check({
      ...server,
      "client/src/a.ts": `import type { AppRouter } from "../../server/http/routers/_app.js";\nexport type A = AppRouter;\n`,
    });
    expect(typeOnly.output).toContain("no violations");
    expect(typeOnly.status).toBe(0);
  });

  it("keeps the core from importing the HTTP faces", () => {
    const { status, lines } = check({
      "server/jobs/x.ts": `import { t } from "../http/trpc.js";\nexport const x = t;\n`,
      "server/http/trpc.ts": `export const t = 1;\n`,
    });
    expect(status).toBe(1);
    expect(lines).toContain(
      "server/jobs/x.ts -> server/http/trpc.ts: layer jobs imports from the higher layer http: the core imports nothing from the HTTP faces",
    );
  });

  it("keeps a low layer from importing a higher one", () => {
    const { status, lines } = check({
      "server/db/x.ts": `import { y } from "../lifecycle/y.js";\nexport const x = y;\n`,
      "server/lifecycle/y.ts": `export const y = 1;\n`,
    });
    expect(status).toBe(1);
    expect(lines).toContain(
      "server/db/x.ts -> server/lifecycle/y.ts: layer foundation imports from the higher layer lifecycle",
    );
  });

  it("reports a server file that is in no layer", () => {
    const { status, lines } = check({ "server/misc/z.ts": `export const z = 1;\n` });
    expect(status).toBe(1);
    expect(lines).toContain("server/misc/z.ts: not in any layer: add it to LAYERS in scripts/check-layers.ts");
  });

  it("lets only server/http/trpc-internals.ts import tRPC internals", () => {
    const internals = `import { getErrorShape } from "@trpc/server/unstable-core-do-not-import";\nexport { getErrorShape };\n`;
    const { status, lines } = check({
      "server/http/trpc-internals.ts": internals,
      "server/http/routers/a.ts": internals,
    });
    expect(status).toBe(1);
    expect(lines).toEqual([
      "server/http/routers/a.ts -> @trpc/server/unstable-core-do-not-import: only server/http/trpc-internals.ts imports tRPC internals: import them from there",
      "layers: 2 files, 1 violation",
    ]);
  });

  // The real tree. This passes once the server refactor (server/lifecycle/,
  // server/http/, server/http/trpc-internals.ts) lands; until then it lists what is left.
  it("closes the side doors: server-only packages, imports out of server/, computed imports, other extensions", () => {
    const { status, lines } = check({
      "shared/db.ts": `import pg from "pg";\nexport const Pool = pg.Pool;\n`,
      "client/src/api.ts": `import { initTRPC } from "@trpc/server";\nexport const t = initTRPC;\n`,
      "client/src/types.ts": `import type { Pool } from "pg";\nexport type P = Pool;\n`,
      "server/jobs/uses-client.ts": `import { t } from "../../client/src/api.js";\nexport const x = t;\n`,
      "server/jobs/computed.ts": `const name = "x";\nexport const load = () => import(\`./\${name}.js\`);\n`,
      "server/jobs/required.ts": `import fs = require("node:fs");\nimport type X = require("../http/x.js");\nexport const f = fs;\n`,
      "server/http/x.ts": `export const x = 1;\n`,
      "server/misc/plain.mjs": `export const y = 1;\n`,
      "server/http/deep.ts": `import { x } from "@trpc/server/dist/unstable-core-do-not-import/x.js";\nimport { y } from "@trpc/client/dist/links/x.js";\nexport const z = [x, y];\n`,
    });
    expect(status).toBe(1);
    const has = (start: string, rule: RegExp) => lines.some((line) => line.startsWith(start) && rule.test(line));
    expect(has("shared/db.ts -> pg:", /server-only packages/)).toBe(true);
    expect(has("client/src/api.ts -> @trpc/server:", /server-only packages only with `import type`/)).toBe(true);
    expect(lines.some((line) => line.startsWith("client/src/types.ts"))).toBe(false);
    expect(has("server/jobs/uses-client.ts -> client/src/api.ts:", /imports only from server\/ and shared\//)).toBe(
      true,
    );
    expect(has("server/jobs/computed.ts -> <computed import()>:", /cannot check it/)).toBe(true);
    expect(has("server/jobs/required.ts -> server/http/x.ts:", /higher layer http/)).toBe(true);
    expect(has("server/misc/plain.mjs:", /not in any layer/)).toBe(true);
    expect(lines.filter((line) => line.startsWith("server/http/deep.ts") && /tRPC internals/.test(line))).toHaveLength(
      2,
    );
  });

  it("passes on the repository itself", () => {
    const { status, output } = runChecker(repoRoot);
    expect(output).toContain("no violations");
    expect(status).toBe(0);
  });
});
