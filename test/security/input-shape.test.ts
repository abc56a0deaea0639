// Raw input is checked before any schema: unstorable text, an object that
// contains itself, shared objects that expand past the limit, and nesting
// past the depth limit are each a 400 naming where, never a hang or a 500.
// Over HTTP, superjson's referentialEqualities is how a client sends them.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { inputIssues, MAX_DEPTH, MAX_EXPANDED_NODES } from "../../server/security/input-shape.js";
import { startTestApp, type TestApp } from "../support/app.js";

describe("inputIssues", () => {
  test("plain input passes, shared objects included", () => {
    const shared = { to: "a@example.com", subject: "s", body: "b" };
    expect(inputIssues({ jobs: [shared, shared, { x: [1, "two", null] }] })).toEqual([]);
  });

  test("a NUL in a value or a key names its path", () => {
    expect(inputIssues({ a: [{ b: "x\u0000" }] })).toMatchObject([{ path: ["a", 0, "b"], message: /^b must not/ }]);
    expect(inputIssues({ "k\u0000": 1 })).toMatchObject([{ path: ["k\u0000"] }]);
  });

  test("an object that contains itself is refused", () => {
    const a: Record<string, unknown> = { name: "a" };
    a.self = { inner: a };
    expect(inputIssues({ a })).toMatchObject([
      { path: ["a", "self", "inner"], message: "inner must not contain itself" },
    ]);
  });

  test("shared objects that expand exponentially are refused, quickly", () => {
    let node: unknown = "leaf";
    for (let i = 0; i < 60; i++) node = [node, node];
    expect(inputIssues({ data: node })).toMatchObject([
      { path: [], message: `input expands to more than ${MAX_EXPANDED_NODES} values (repeated references)` },
    ]);
  });

  test("nesting past the limit is refused", () => {
    let deep: unknown = "x";
    for (let i = 0; i < MAX_DEPTH + 5; i++) deep = { d: deep };
    expect(inputIssues(deep)).toMatchObject([{ message: `d is nested more than ${MAX_DEPTH} levels deep` }]);
    let ok: unknown = "x";
    for (let i = 0; i < MAX_DEPTH - 1; i++) ok = { d: ok };
    expect(inputIssues(ok)).toEqual([]);
  });
});

describe("over HTTP, before authentication", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off" });
  });
  afterAll(() => app?.close());

  const get = (path: string, body: unknown) =>
    fetch(`${app.url}/trpc/${path}?input=${encodeURIComponent(JSON.stringify(body))}`);

  test("a cyclic input (superjson referentialEqualities) answers 400, and the server keeps answering", async () => {
    const response = await get("jobs.list", { json: { a: {} }, meta: { referentialEqualities: { a: ["a.b"] } } });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { json: { message: string } } };
    expect(body.error.json.message).toContain("must not contain itself");
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });

  test("an exponentially shared input answers 400", async () => {
    // Level i's two slots both refer to level i+1: 2^40 values once expanded.
    const json: Record<string, unknown> = {};
    let cursor: Record<string, unknown> = json;
    const equalities: Record<string, string[]> = {};
    let path = "payload.data";
    for (let i = 0; i < 40; i++) {
      const next: Record<string, unknown> = {};
      cursor.l = next;
      cursor.r = {};
      const here = path ? `${path}.` : "";
      equalities[`${here}l`] = [`${here}r`];
      cursor = next;
      path = `${here}l`;
    }
    const response = await fetch(`${app.url}/trpc/jobs.enqueue`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        json: { type: "webhook", payload: { data: json } },
        meta: { referentialEqualities: equalities },
      }),
    });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: { json: { message: string } } };
    expect(body.error.json.message).toContain("(repeated references)");
    expect((await fetch(`${app.url}/healthz`)).status).toBe(200);
  });
});
