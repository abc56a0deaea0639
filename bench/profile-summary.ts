/**
 * `npx tsx bench/profile-summary.ts <file.cpuprofile | dir>... [--top N]`:
 * a V8 CPU profile's time by package or area, self and inclusive, idle left
 * out. Node's own code (node:*, native, wasm) counts for the nearest caller
 * above it that is a package or one of our folders, so nodemailer's socket
 * writes are nodemailer's and the pg client's are pg's; with no such caller
 * (the event loop, a socket read before it reaches a handler) it is "node
 * core, no caller", named by what it was doing (socket connects, reads...).
 * Our code is bucketed by folder (server/worker, ...); a sample with a module
 * loading on its stack counts as module loading.
 *
 * With the window file the real-work bench writes beside our process's
 * profile (BENCH_PROFILE_DIR, window-<pid>.json: the feed's start to the
 * end, and the job count), only the samples in that window count, and every
 * figure is also given per job; startup and shutdown are reported apart.
 * Every profile of one process (its threads: tsx's loader runs in one) is
 * added up.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}
interface Window {
  jobs: number;
  startUs: string;
  endUs: string;
}

const ROOT = path.resolve(import.meta.dirname, "..");

/** Packages grouped into the areas the docs talk about; any other package is its own area. */
const PACKAGE_AREAS: [RegExp, string][] = [
  [/^nodemailer$/, "nodemailer"],
  [/^(pg|pg-protocol|pg-pool|pg-types|pg-connection-string|pgpass|postgres-\w+|pg-int8|split2)$/, "pg client"],
  [/^(graphile-worker|@graphile\/.*|graphile-config|cosmiconfig)$/, "graphile-worker"],
  [
    /^(pino|pino-\w+|@pinojs\/.*|sonic-boom|thread-stream|fast-redact|quick-format-unescaped|atomic-sleep|on-exit-leak-free)$/,
    "pino",
  ],
  [/^zod$/, "zod"],
  [/^(@prisma\/.*|prisma)$/, "Prisma"],
  [/^@trpc\/.*$/, "tRPC"],
  [
    /^(express|router|body-parser|raw-body|finalhandler|send|serve-static|on-finished|type-is|content-type|accepts|negotiator|mime-types|mime-db|qs|cookie|debug|ms|depd|statuses|http-errors|path-to-regexp|iconv-lite|safer-buffer|media-typer|encodeurl|escape-html|etag|fresh|parseurl|proxy-addr|forwarded|range-parser|vary|merge-descriptors|content-disposition|setprototypeof|toidentifier|unpipe|bytes|destroy|ee-first|inherits|call-bind.*|get-intrinsic|side-channel.*|es-.*|function-bind|has-.*|hasown|gopd|dunder-proto|math-intrinsics|object-inspect)$/,
    "express/HTTP",
  ],
  [/^(tsx|esbuild|get-tsconfig|resolve-pkg-maps|source-map-support)$/, "tsx (module loading)"],
];

function packageOf(url: string): string | undefined {
  const at = url.lastIndexOf("/node_modules/");
  if (at < 0) return undefined;
  const parts = url.slice(at + "/node_modules/".length).split("/");
  return parts[0]?.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0];
}

/** A frame's area, or undefined for Node's own code (counted for its caller). */
function areaOf(frame: CallFrame): string | undefined {
  const { functionName, url } = frame;
  if (functionName === "(garbage collector)") return "GC";
  if (functionName === "(program)") return "(program): V8 and native, no JS frame";
  if (functionName === "(idle)") return "(idle)";
  if (functionName === "(root)") return undefined;
  if (!url || url.startsWith("node:") || url.startsWith("wasm:")) return undefined;
  const pkg = packageOf(url);
  if (pkg) return PACKAGE_AREAS.find(([pattern]) => pattern.test(pkg))?.[1] ?? pkg;
  const file = url.startsWith("file://") ? decodeURIComponent(new URL(url).pathname) : url;
  const relative = path.relative(ROOT, file);
  if (relative.startsWith("server/generated/")) return "Prisma";
  const parts = relative.split(path.sep);
  if (parts[0] === "server" || parts[0] === "shared" || parts[0] === "bench") {
    return parts.length > 2 ? `${parts[0]}/${parts[1]}` : `${parts[0]}/ (its own files)`;
  }
  return relative.startsWith("..") ? "other" : relative;
}

const NO_CALLER = "node core, no caller";
const LOADING = "module loading (startup, first use)";

/**
 * Node's own code with no package or folder of ours above it is named by what
 * it was doing (the first of these found from the leaf up): an async step
 * whose originator the profile does not keep.
 */
const NO_CALLER_KINDS: [RegExp, string][] = [
  [/^(internalConnect|afterConnect|lookupAndConnect)$/, "socket connects"],
  [/^(finishImpl|finish|pipelineImpl)$/, "stream pipeline ends"],
  [/^(onStreamRead)$/, "socket reads"],
  [/^(afterWriteDispatched|writeGeneric|writevGeneric|onWriteComplete)$/, "socket writes"],
  [/^(close|_destroy|destroy|emitCloseNT|onSocketEnd|onReadableStreamEnd)$/, "socket closes"],
  [/^(listOnTimeout|processTimers)$/, "timers"],
  [/^(runMicrotasks|processTicksAndRejections)$/, "ticks and microtasks"],
];
const OUTSIDE = "outside the window (startup, shutdown)";

interface Totals {
  self: Map<string, number>;
  inclusive: Map<string, number>;
  functions: Map<string, number>;
  busyUs: number;
  outsideUs: number;
  idleUs: number;
}

function add(map: Map<string, number>, key: string, us: number): void {
  map.set(key, (map.get(key) ?? 0) + us);
}

function summarise(profile: Profile, window: Window | undefined, totals: Totals): void {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  // Per node: its attributed area, the set of areas on its stack, whether a module is loading (memoised).
  type Resolved = { area: string; areas: Set<string>; loading: boolean };
  const resolved = new Map<number, Resolved>();
  const resolve = (id: number): Resolved => {
    const known = resolved.get(id);
    if (known) return known;
    const node = byId.get(id) as ProfileNode;
    const up = parent.get(id);
    const above = up === undefined ? { area: NO_CALLER, areas: new Set<string>(), loading: false } : resolve(up);
    const own = areaOf(node.callFrame);
    const loading =
      above.loading || node.callFrame.url.startsWith("node:internal/modules/") || own === "tsx (module loading)";
    const area = own ?? (above.area === NO_CALLER || above.area.startsWith("(") ? NO_CALLER : above.area);
    const areas = new Set(above.areas);
    // Every stack starts with no caller: that area's inclusive time is its self time only.
    if (area !== NO_CALLER) areas.add(area);
    const result = { area, areas, loading };
    resolved.set(id, result);
    return result;
  };
  /** What an unattributed sample of node core was doing, from the leaf up. */
  const noCallerKind = (id: number): string => {
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const name = (byId.get(at) as ProfileNode).callFrame.functionName;
      const kind = NO_CALLER_KINDS.find(([pattern]) => pattern.test(name))?.[1];
      if (kind) return `${NO_CALLER}: ${kind}`;
    }
    return `${NO_CALLER}: other`;
  };
  const start = window ? Number(window.startUs) : -Infinity;
  const end = window ? Number(window.endUs) : Infinity;
  let at = profile.startTime;
  const times: number[] = [];
  for (const delta of profile.timeDeltas) {
    at += delta;
    times.push(at);
  }
  for (const [i, id] of profile.samples.entries()) {
    const t = times[i] as number;
    // A sample lasts until the next one (the last: until the profile's end).
    const us = Math.max(0, (times[i + 1] ?? profile.endTime) - t);
    const node = byId.get(id) as ProfileNode;
    if (node.callFrame.functionName === "(idle)") {
      if (t >= start && t < end) totals.idleUs += us;
      continue;
    }
    if (t < start || t >= end) {
      totals.outsideUs += us;
      continue;
    }
    const resolvedSample = resolve(id);
    const { areas, loading } = resolvedSample;
    // Loading a module counts as loading, whatever package's top level it runs.
    let area = loading ? LOADING : resolvedSample.area;
    if (area === NO_CALLER) area = noCallerKind(id);
    totals.busyUs += us;
    add(totals.self, area, us);
    if (loading) add(totals.inclusive, LOADING, us);
    else for (const a of areas) add(totals.inclusive, a, us);
    if (area.startsWith(NO_CALLER)) add(totals.inclusive, area, us);
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url
      ? `${url.replace(/^file:\/\/\/.*?node_modules\//, "").replace(`file://${ROOT}/`, "")}:${lineNumber + 1}`
      : "";
    add(totals.functions, `${functionName || "(anonymous)"} ${where} [${area}]`, us);
  }
}

function profilesIn(args: string[]): string[] {
  return args.flatMap((arg) =>
    statSync(arg).isDirectory()
      ? readdirSync(arg)
          .filter((name) => name.endsWith(".cpuprofile"))
          .map((name) => path.join(arg, name))
      : [arg],
  );
}

const args = process.argv.slice(2);
const topIndex = args.indexOf("--top");
const top = topIndex >= 0 ? Number(args.splice(topIndex, 2)[1]) : 25;
if (args.length === 0) throw new Error("usage: profile-summary <file.cpuprofile | dir>... [--top N]");

// One table per process: CPU.<date>.<time>.<pid>.<tid>.<seq>.cpuprofile.
const byPid = new Map<string, string[]>();
for (const file of profilesIn(args)) {
  const pid = path.basename(file).split(".")[3] ?? file;
  byPid.set(pid, [...(byPid.get(pid) ?? []), file]);
}

const ms = (us: number) => us / 1000;
const fmt = (n: number) => (n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2));

for (const [pid, files] of byPid) {
  const windowFile = path.join(path.dirname(files[0] as string), `window-${pid}.json`);
  let window: Window | undefined;
  try {
    window = JSON.parse(readFileSync(windowFile, "utf8")) as Window;
  } catch {
    window = undefined;
  }
  const totals: Totals = {
    self: new Map(),
    inclusive: new Map(),
    functions: new Map(),
    busyUs: 0,
    outsideUs: 0,
    idleUs: 0,
  };
  for (const file of files) summarise(JSON.parse(readFileSync(file, "utf8")) as Profile, window, totals);
  const jobs = window?.jobs;
  const perJob = (us: number) => (jobs ? ` | ${fmt(ms(us) / jobs)}` : "");
  const lines = [
    `Process ${pid}: ${files.length} profile(s) (${files.map((f) => path.basename(f)).join(", ")})`,
    window
      ? `Window: ${fmt(ms(Number(window.endUs) - Number(window.startUs)))} ms, ${jobs} jobs (${path.basename(windowFile)}); ` +
        `busy ${fmt(ms(totals.busyUs))} ms${jobs ? ` = ${fmt(ms(totals.busyUs) / jobs)} ms/job` : ""}, idle ${fmt(ms(totals.idleUs))} ms (all threads); ` +
        `${OUTSIDE}: ${fmt(ms(totals.outsideUs))} ms busy`
      : `No window file (${path.basename(windowFile)}): the whole profile, startup included; busy ${fmt(ms(totals.busyUs))} ms`,
    "",
    `| area | self ms${jobs ? " | self ms/job" : ""} | inclusive ms${jobs ? " | inclusive ms/job" : ""} | self share |`,
    `| --- | ---: |${jobs ? " ---: |" : ""} ---: |${jobs ? " ---: |" : ""} ---: |`,
    ...[...totals.self.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([area, us]) => {
        const inclusive = totals.inclusive.get(area) ?? us;
        return `| ${area} | ${fmt(ms(us))}${perJob(us)} | ${fmt(ms(inclusive))}${perJob(inclusive)} | ${((100 * us) / totals.busyUs).toFixed(1)}% |`;
      }),
    `| **all (busy)** | ${fmt(ms(totals.busyUs))}${perJob(totals.busyUs)} | | | 100% |`,
    "",
    `Top ${top} functions by self time [area they count for]:`,
    "",
    ...[...totals.functions.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(
        ([name, us]) =>
          `  ${fmt(ms(us)).padStart(7)} ms${jobs ? ` ${fmt(ms(us) / jobs).padStart(6)} ms/job` : ""}  ${name}`,
      ),
    "",
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}
