// jobs.enqueue's own route (server/http/enqueue-route.ts) against tRPC's answer to
// the same request over real HTTP: the same status, headers and JSON. A body
// sent chunked (no content-length) is left to tRPC, which is how each test
// gets tRPC's answer to compare; tRPC answers chunked, the route with a length.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";

let app: TestApp;
let token: string;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
  token = await app.token("enqueue-route@example.com");
});
afterAll(() => app?.close());

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function post(
  input: unknown,
  options: { chunked: boolean; auth?: boolean; raw?: string; headers?: Record<string, string> },
): Promise<Answer> {
  const body = options.raw ?? JSON.stringify({ json: input });
  const headers: Record<string, string> = { "content-type": "application/json", ...options.headers };
  if (options.auth !== false) headers.authorization = `Bearer ${token}`;
  if (!options.chunked) headers["content-length"] = String(Buffer.byteLength(body));
  return new Promise((resolve, reject) => {
    const request = http.request(`${app.url}/trpc/jobs.enqueue`, { method: "POST", headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: text }));
    });
    request.on("error", reject);
    if (options.chunked) request.write(body); // written before end: Node sends it chunked
    request.end(options.chunked ? undefined : body);
  });
}

/** Both answers to the same input: the route's, then tRPC's. */
async function both(input: unknown, options: { auth?: boolean; raw?: string; headers?: Record<string, string> } = {}) {
  const ours = await post(input, { ...options, chunked: false });
  const trpcs = await post(input, { ...options, chunked: true });
  return { ours, trpcs };
}

// Job ids differ between the two answers; in development an error carries a stack trace naming its caller.
const comparable = (body: string) =>
  body
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>")
    .replace(/"stack":"(?:[^"\\]|\\.)*"/g, '"stack":"…"');

function expectSameAnswer({ ours, trpcs }: { ours: Answer; trpcs: Answer }, servedBy: "route" | "tRPC" = "route") {
  // Who answered: the route sends a length, tRPC a chunked body.
  expect(ours.headers["content-length"] !== undefined).toBe(servedBy === "route");
  expect(trpcs.headers["transfer-encoding"]).toBe("chunked");
  expect(ours.status).toBe(trpcs.status);
  expect(ours.headers["content-type"]).toBe(trpcs.headers["content-type"]);
  expect(ours.headers.vary).toBe(trpcs.headers.vary);
  expect(comparable(ours.body)).toBe(comparable(trpcs.body));
}

const email = { to: "someone@example.com", subject: "Hi", body: "b" };

describe("the jobs.enqueue route", () => {
  test("it answers plain enqueues itself, with what tRPC answers", async () => {
    const answers = await both({ type: "email", payload: email });
    expectSameAnswer(answers);
    expect(answers.ours.status).toBe(200);
    const { jobId } = JSON.parse(answers.ours.body).result.data.json;
    const job = await app.client(token).jobs.get.query({ jobId });
    expect(job.type).toBe("email");
  });

  test("errors the procedure raises: the same status and error shape (a field, an unknown type, a key conflict)", async () => {
    const invalid = await both({ type: "email", payload: { ...email, to: "not-an-email" } });
    expect(invalid.ours.status).toBe(400);
    expect(invalid.ours.body).toContain("payload");
    expectSameAnswer(invalid);

    expectSameAnswer(await both({ type: "no-such-type", payload: {} }));

    const key = `conflict-${Date.now()}`;
    await post({ type: "email", payload: email, idempotencyKey: key }, { chunked: false });
    const conflict = await both({ type: "email", payload: { ...email, subject: "Other" }, idempotencyKey: key });
    expect(conflict.ours.status).toBe(409);
    expectSameAnswer(conflict);
  });

  test("no credentials: the same 401; a body that is not JSON: left to tRPC", async () => {
    const anonymous = await both({ type: "email", payload: email }, { auth: false });
    expect(anonymous.ours.status).toBe(401);
    expectSameAnswer(anonymous);

    const garbled = await both(undefined, { raw: '{"json": {"type": "email",' });
    expect(garbled.ours.status).toBe(400);
    expectSameAnswer(garbled, "tRPC");
  });

  test("a streamed (JSONL) answer asked for, unbatched: left to tRPC, which refuses it and enqueues nothing", async () => {
    const before = (await app.client(token).jobs.list.query({})).items.length;
    const asked: Record<string, string>[] = [{ "trpc-accept": "application/jsonl" }, { accept: "application/jsonl" }];
    for (const headers of asked) {
      const streamed = await both({ type: "email", payload: email }, { headers });
      expect(streamed.ours.status).toBe(400);
      expectSameAnswer(streamed, "tRPC");
    }
    expect((await app.client(token).jobs.list.query({})).items.length).toBe(before);
  });
});
