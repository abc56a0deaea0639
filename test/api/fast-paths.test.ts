// TRPC_FAST_PATHS over real HTTP. On (the default), the hand-written routes
// answer jobs.events to EventSource clients and plain jobs.enqueue posts; off,
// tRPC's own adapter answers both, with the same results for the same clients.
// Who answered shows in the headers (the parity tests rely on the same): tRPC's
// adapter sends `vary` on its SSE stream and answers jobs.enqueue chunked; the
// routes send no `vary` on the stream and the enqueue answer with a length.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { emailItem } from "../support/fixtures.js";
import { record } from "../support/stream.js";

type Mode = "default" | "off";
const apps = {} as Record<Mode, { app: TestApp; token: string }>;
beforeAll(async () => {
  for (const [mode, env] of [
    ["default", {}],
    ["off", { TRPC_FAST_PATHS: "off" }],
  ] as const) {
    const app = await startTestApp({ WORKER: "off", ...env });
    apps[mode] = { app, token: await app.token(`fast-paths-${mode}@example.com`) };
  }
});
afterAll(async () => {
  for (const { app } of Object.values(apps)) await app?.close();
});

interface Stream {
  headers: http.IncomingHttpHeaders;
  until: (done: (text: string) => boolean) => Promise<string>;
  close: () => void;
}

/** jobs.events as an EventSource asks for it (Accept: text/event-stream). */
function openStream(mode: Mode, input: unknown): Promise<Stream> {
  const { app, token } = apps[mode];
  const url = new URL(`${app.url}/trpc/jobs.events`);
  url.searchParams.set("input", JSON.stringify({ json: input }));
  const headers = { authorization: `Bearer ${token}`, accept: "text/event-stream" };
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
      });
      resolve({
        headers: response.headers,
        until: async (done) => {
          const deadline = Date.now() + 10_000;
          while (!done(text)) {
            if (Date.now() > deadline) throw new Error(`stream stalled; so far: ${JSON.stringify(text)}`);
            await new Promise((wake) => setTimeout(wake, 20));
          }
          return text;
        },
        close: () => request.destroy(),
      });
    });
    request.on("error", reject);
  });
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** jobs.enqueue as a single-call client posts it: JSON with a content-length. */
function postEnqueue(mode: Mode, input: unknown, auth = true): Promise<Answer> {
  const { app, token } = apps[mode];
  const body = JSON.stringify({ json: input });
  const headers: Record<string, string> = {
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
  };
  if (auth) headers.authorization = `Bearer ${token}`;
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
    request.end(body);
  });
}

// The two apps have their own databases: ids, cursors and times differ; in development an error carries a stack.
const comparable = (text: string) =>
  text
    .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, "<uuid>")
    .replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, "<time>")
    .replace(/\d+-\d+/g, "<cursor>")
    .replace(/"stack":"(?:[^"\\]|\\.)*"/g, '"stack":"…"');

const messages = (text: string) => text.split("\n\n\n").filter(Boolean).length;
const email = { to: "someone@example.com", subject: "Hi", body: "b" };

describe("TRPC_FAST_PATHS", () => {
  test("on by default: the hand-written routes answer jobs.events and jobs.enqueue", async () => {
    expect(apps.default.app.app.services.config.TRPC_FAST_PATHS).toBe("on");
    const stream = await openStream("default", {});
    await stream.until((text) => text.includes("connected"));
    stream.close();
    expect(stream.headers["content-type"]).toBe("text/event-stream");
    expect(stream.headers.vary).toBeUndefined();

    const answer = await postEnqueue("default", { type: "email", payload: email });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-length"]).toBe(String(Buffer.byteLength(answer.body)));
    expect(answer.headers["transfer-encoding"]).toBeUndefined();
  });

  test("off: tRPC's adapter answers both, the stream as SSE", async () => {
    const stream = await openStream("off", {});
    await stream.until((text) => text.includes("connected"));
    stream.close();
    expect(stream.headers["content-type"]).toBe("text/event-stream");
    expect(stream.headers.vary).toBeDefined();

    const answer = await postEnqueue("off", { type: "email", payload: email });
    expect(answer.status).toBe(200);
    expect(answer.headers["content-length"]).toBeUndefined();
    expect(answer.headers["transfer-encoding"]).toBe("chunked");
  });

  test("off and on give the same answers to jobs.enqueue: a job, a field error, a key conflict, 401", async () => {
    const key = `conflict-${Date.now()}`;
    const inputs: { input: unknown; auth?: boolean; status: number }[] = [
      { input: { type: "email", payload: email, idempotencyKey: key }, status: 200 },
      { input: { type: "email", payload: { ...email, subject: "Other" }, idempotencyKey: key }, status: 409 },
      { input: { type: "email", payload: { ...email, to: "not-an-email" } }, status: 400 },
      { input: { type: "email", payload: email }, auth: false, status: 401 },
    ];
    for (const { input, auth, status } of inputs) {
      const on = await postEnqueue("default", input, auth);
      const off = await postEnqueue("off", input, auth);
      expect(on.status).toBe(status);
      expect(off.status).toBe(status);
      expect(on.headers["content-type"]).toBe(off.headers["content-type"]);
      expect(on.headers.vary).toBe(off.headers.vary);
      expect(comparable(on.body)).toBe(comparable(off.body));
    }
    // The job is there, whoever answered.
    for (const mode of ["default", "off"] as const) {
      const { app, token } = apps[mode];
      const { items } = await app.client(token).jobs.list.query({});
      expect(items.some((job) => job.idempotencyKey === key)).toBe(true);
    }
  });

  test("off and on stream the same events: the same SSE messages, and the typed client (httpSubscriptionLink) gets them", async () => {
    const seen: Record<Mode, string> = { default: "", off: "" };
    for (const mode of ["default", "off"] as const) {
      const { app, token } = apps[mode];
      const client = app.client(token);
      const stream = await openStream(mode, {});
      await stream.until((text) => messages(text) >= 1);
      const typed = record(client);
      await typed.started;
      const { jobId } = await client.jobs.enqueue.mutate(emailItem());
      await client.jobs.cancel.mutate({ jobId });
      const text = await stream.until((t) => messages(t) >= 3);
      const events = await typed.waitFor((list) => list.some((e) => e.jobId === jobId && e.status === "cancelled"));
      stream.close();
      typed.stop();
      expect(events.filter((e) => e.jobId === jobId).map((e) => e.status)).toEqual(["pending", "cancelled"]);
      expect(text).toContain(`"jobId":"${jobId}"`);
      seen[mode] = text;
    }
    expect(comparable(seen.off)).toBe(comparable(seen.default));
    expect(seen.off).toMatch(/^event: connected\ndata: \{\}\n\n\ndata: \{"json":/);
  });
});
