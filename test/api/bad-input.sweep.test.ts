// Every tRPC procedure, over real HTTP, with bad input generated from its own
// input schema: a NUL in each string field, a non-UUID in each id field and a
// malformed cursor. Each must answer 4xx, never 5xx; a BAD_REQUEST must carry
// an issue whose path names the field. A new procedure is swept without a
// change here.
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { z } from "zod";
import { appRouter } from "../../server/http/routers/_app.js";
import { encodePageCursor } from "../../server/jobs/queries.js";
import { transformer } from "../../shared/transformer.js";
import { startTestApp, type TestApp } from "../support/app.js";

/** The part of JSON Schema that zod 4 emits for these inputs. */
interface Node {
  type?: string | string[];
  properties?: Record<string, Node>;
  items?: Node;
  oneOf?: Node[];
  anyOf?: Node[];
  const?: unknown;
  enum?: unknown[];
  format?: string;
  default?: unknown;
  minimum?: number;
  minItems?: number;
  $ref?: string;
}

type Path = (string | number)[];
type Kind = "nul" | "non-uuid" | "cursor";

interface Variant {
  procedure: string;
  kind: Kind;
  /** Where the bad value went. */
  at: Path;
  /** The field a BAD_REQUEST may name instead of `at`: the free-form JSON value holding it. */
  field: Path;
  input: unknown;
}

interface Procedure {
  path: string;
  type: "query" | "mutation" | "subscription";
  inputs: z.ZodType[];
}

const procedures: Procedure[] = Object.entries(
  appRouter._def.procedures as unknown as Record<string, { _def: { type: Procedure["type"]; inputs: z.ZodType[] } }>,
).map(([path, p]) => ({ path, type: p._def.type, inputs: p._def.inputs }));

/** Called without a generated input: signing out would revoke the sweep's own token. */
const SKIPPED = new Set(["auth.signOut"]);

const ID_KEY = /^(id|[a-z]+Ids?)$/;
const CURSOR_KEYS = new Set(["cursor", "lastEventId"]);
const DATE_KEYS = new Set(["runAt", "from", "to"]);
const UUID_36 = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const NON_UUIDS = ["not-a-uuid", "-".repeat(36), "a".repeat(36), "zzzzzzzz-zzzz-zzzz-zzzz-zzzzzzzzzzzz"];
const MALFORMED_CURSORS = [
  "not-a-cursor",
  `2024-01-01T00:00:00.000Z_${"-".repeat(36)}`,
  `2024-01-01T00:00:00.000Z_${"a".repeat(36)}`,
  `2024-01-01T00:00:00.000Z_${UUID_36.replace(/a/g, "g")}`,
  `0000-01-01T00:00:00.000Z_${UUID_36}`,
  `2024-02-30T00:00:00.000Z_${UUID_36}`,
  `2024-01-01T25:00:00.000Z_${UUID_36}`,
  "99999999999999999999999-1",
];

/** Values under these objects are free-form JSON (z.json()): a NUL inside names the JSON field. */
const freeForm = new WeakSet<object>();

/** Example inputs that the schema accepts: at least one per branch of every union. */
function examples(node: Node, key: string, context: { endpointId: string }): unknown[] {
  const branches = node.oneOf ?? node.anyOf;
  if (branches) return branches.flatMap((b) => examples(b, key, context));
  if ("const" in node) return [node.const];
  if (node.enum) return [node.enum[0]];
  const types = Array.isArray(node.type) ? node.type : node.type ? [node.type] : [];
  if (key === "cursor") return [encodePageCursor(new Date(), randomUUID())];
  if (key === "lastEventId") return [null];
  if (types.includes("object") && node.properties) {
    const fields = Object.entries(node.properties).map(([k, v]) => [k, examples(v, k, context)] as const);
    const count = Math.max(1, ...fields.map(([, values]) => values.length));
    return Array.from({ length: count }, (_, i) =>
      Object.fromEntries(fields.map(([k, values]) => [k, values[i % values.length]])),
    );
  }
  if (types.includes("array") && node.items) {
    return examples(node.items, key, context).map((value) =>
      Array.from({ length: Math.max(1, node.minItems ?? 1) }, () => value),
    );
  }
  if (types.includes("string")) return [stringExample(node, key, context)];
  if (types.includes("integer") || types.includes("number")) return [node.default ?? node.minimum ?? 1];
  if (types.includes("boolean")) return [false];
  if (DATE_KEYS.has(key)) return [new Date(Date.now() + 3_600_000)];
  // Unconstrained ({} or a recursive $ref): free-form JSON.
  const json = { note: "text", list: ["text"] };
  freeForm.add(json);
  return [json];
}

function stringExample(node: Node, key: string, context: { endpointId: string }): string {
  if (key === "endpointId") return context.endpointId;
  if (node.format === "uuid") return randomUUID();
  if (node.format === "email") return "someone@example.com";
  if (key === "url") return "https://93.184.216.34/hook";
  if (key === "idempotencyKey") return `sweep-${randomUUID()}`;
  if (key === "event") return "order.created";
  return "text";
}

/** Every variant of `base`: one bad value at one place. */
function variants(procedure: string, base: unknown): Variant[] {
  const found: Variant[] = [];
  const visit = (value: unknown, at: Path, field: Path | undefined) => {
    const key = String(at.findLast((p) => typeof p === "string") ?? "");
    const put = (kind: Kind, bad: unknown) =>
      found.push({ procedure, kind, at, field: field ?? at, input: replaced(base, at, bad) });
    if (typeof value === "string" || (value === null && CURSOR_KEYS.has(key))) {
      put("nul", `${value ?? ""}\u0000`);
      if (ID_KEY.test(key) && field === undefined) for (const bad of NON_UUIDS) put("non-uuid", bad);
      if (CURSOR_KEYS.has(key)) for (const bad of MALFORMED_CURSORS) put("cursor", bad);
      return;
    }
    if (value && typeof value === "object" && !(value instanceof Date)) {
      const inner = field ?? (freeForm.has(value) ? at : undefined);
      for (const [k, v] of Object.entries(value)) visit(v, [...at, Array.isArray(value) ? Number(k) : k], inner);
    }
  };
  visit(base, [], undefined);
  return found;
}

function replaced(value: unknown, at: Path, bad: unknown): unknown {
  const [head, ...rest] = at;
  if (head === undefined) return bad;
  if (Array.isArray(value)) return value.map((v, i) => (i === head ? replaced(v, rest, bad) : v));
  const record = value as Record<string, unknown>;
  return { ...record, [head]: replaced(record[head], rest, bad) };
}

interface Answer {
  status: number;
  code: string | undefined;
  issues: { path: Path; message: string }[];
  text: string;
}

/** One call as any HTTP client makes it: queries by GET, mutations by POST, subscriptions by SSE. */
async function call(app: TestApp, token: string, procedure: Procedure, input: unknown): Promise<Answer> {
  const serialized = JSON.stringify(transformer.serialize(input));
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const url = `${app.url}/trpc/${procedure.path}`;
  const response =
    procedure.type === "mutation"
      ? await fetch(url, { method: "POST", headers, body: serialized })
      : await fetch(`${url}?input=${encodeURIComponent(serialized)}`, {
          headers: procedure.type === "subscription" ? { ...headers, accept: "text/event-stream" } : headers,
          signal: AbortSignal.timeout(10_000),
        });
  let text: string;
  let shape: { data?: { code?: string; httpStatus?: number; zodError?: { issues: Answer["issues"] } | null } };
  if (response.headers.get("content-type")?.startsWith("text/event-stream")) {
    // tRPC answers a subscription 200 and sends its error as the stream's first event.
    text = await firstErrorEvent(response);
    shape = transformer.deserialize(JSON.parse(text));
  } else {
    text = await response.text();
    const body = JSON.parse(text) as { error?: Parameters<typeof transformer.deserialize>[0] };
    shape = body.error ? transformer.deserialize(body.error) : {};
  }
  return {
    status: shape.data?.httpStatus ?? response.status,
    code: shape.data?.code,
    issues: shape.data?.zodError?.issues ?? [],
    text,
  };
}

async function firstErrorEvent(response: Response): Promise<string> {
  const reader = response.body?.pipeThrough(new TextDecoderStream()).getReader();
  if (!reader) throw new Error("no body");
  let buffered = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`stream ended without an error event: ${buffered}`);
      buffered += value;
      const match = /event: serialized-error\ndata: (.*)\n/.exec(buffered);
      if (match?.[1]) return match[1];
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** What the sweep refuses: a 5xx, a 2xx, or a BAD_REQUEST that does not name the field. */
function problem(variant: Variant, answer: Answer): string | undefined {
  if (answer.status < 400 || answer.status >= 500) return `HTTP ${answer.status}: ${answer.text.slice(0, 300)}`;
  if (answer.code !== "BAD_REQUEST") return undefined;
  const named = [JSON.stringify(variant.at), JSON.stringify(variant.field)];
  const names = answer.issues.some((i) => named.includes(JSON.stringify(i.path)));
  return names ? undefined : `BAD_REQUEST naming ${JSON.stringify(answer.issues.map((i) => i.path))}`;
}

function sweep(env: Record<string, string>, roles: { admin: boolean }[]) {
  let app: TestApp;
  let endpointId: string;

  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off", ...env });
    const owner = await app.token("sweep@example.com");
    ({ id: endpointId } = await app
      .client(owner)
      .webhooks.createEndpoint.mutate({ url: "https://93.184.216.34/hook", description: "sweep" }));
  });
  afterAll(async () => {
    await app?.close();
  });

  test.each(roles)("every procedure answers bad input 4xx naming the field (admin: $admin)", async ({ admin }) => {
    // The endpoint's owner, so that a valid endpointId is valid for this caller.
    const token = await app.token("sweep@example.com", { admin });
    const swept: string[] = [];
    const all: Variant[] = [];
    const problems: string[] = [];
    for (const procedure of procedures) {
      if (SKIPPED.has(procedure.path) || procedure.inputs.length === 0) continue;
      swept.push(procedure.path);
      const schema = procedure.inputs[0] as z.ZodType;
      const node = z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }) as Node;
      for (const base of examples(node, "", { endpointId })) {
        // The generator's own check: the untouched input is no BAD_REQUEST (nor a 5xx).
        const answer = await call(app, token, procedure, base);
        if (answer.status >= 500 || answer.code === "BAD_REQUEST") {
          problems.push(`${procedure.path} valid input ${JSON.stringify(base)}: ${answer.text.slice(0, 300)}`);
        }
        for (const variant of variants(procedure.path, base)) {
          all.push(variant);
          const why = problem(variant, await call(app, token, procedure, variant.input));
          if (why) problems.push(`${procedure.path} ${variant.kind} at ${variant.at.join(".")}: ${why}`);
        }
      }
    }

    // A sweep that covers nothing cannot fail: it must have reached what issue 13 saw.
    expect(swept.length).toBeGreaterThanOrEqual(25);
    const generated = new Set(all.map((v) => `${v.procedure} ${v.kind} ${v.at.join(".")}`));
    for (const expected of [
      "jobs.list nul search",
      "jobs.list cursor cursor",
      "dlq.list cursor cursor",
      "workflows.list cursor cursor",
      "jobs.events cursor lastEventId",
      "jobs.get non-uuid jobId",
      "workflows.get non-uuid workflowId",
      "webhooks.rotateSecret non-uuid id",
      "dlq.requeueMany non-uuid jobIds.0",
      "webhooks.createEndpoint nul description",
      "webhooks.createEndpoint nul url",
      "jobs.enqueue nul payload.body",
      "jobs.enqueue nul payload.data.note",
      "jobs.enqueueMany nul jobs.0.payload.subject",
      "workflows.start nul input.recipients.0",
      "auth.signIn nul password",
    ]) {
      expect(generated, expected).toContain(expected);
    }
    expect(problems).toEqual([]);
  });
}

describe("bad-input sweep (NODE_ENV test)", () => {
  sweep({}, [{ admin: false }, { admin: true }]);
});

describe("bad-input sweep (NODE_ENV production)", () => {
  sweep({ NODE_ENV: "production", SMTP_URL: "smtp://127.0.0.1:2525" }, [{ admin: true }]);
});
