// The hand-written jobs.events SSE route against tRPC's own SSE producer, over
// real HTTP: the same request served both ways must give the same bytes.
// A request without `Accept: text/event-stream` is left to tRPC (EventSource
// always sends it), which is how each test gets tRPC's answer to compare.
import http from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestApp, type TestApp } from "../support/app.js";
import { emailItem, sleep } from "../support/fixtures.js";

let app: TestApp;
let token: string;
beforeAll(async () => {
  app = await startTestApp({ WORKER: "off" });
  token = await app.token("route@example.com");
});
afterAll(() => app?.close());

interface Stream {
  headers: http.IncomingHttpHeaders;
  text: () => string;
  /** Resolves once the stream's text satisfies `done` (or it ended). */
  until: (done: (text: string) => boolean) => Promise<string>;
  close: () => void;
}

function open(input: unknown, options: { sse: boolean; lastEventId?: string }): Promise<Stream> {
  const url = new URL(`${app.url}/trpc/jobs.events`);
  url.searchParams.set("input", JSON.stringify({ json: input }));
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (options.sse) headers.accept = "text/event-stream";
  if (options.lastEventId) headers["last-event-id"] = options.lastEventId;
  return new Promise((resolve, reject) => {
    const request = http.get(url, { headers }, (response) => {
      let text = "";
      let ended = false;
      const waiters: (() => void)[] = [];
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
        for (const wake of waiters.splice(0)) wake();
      });
      response.on("end", () => {
        ended = true;
        for (const wake of waiters.splice(0)) wake();
      });
      resolve({
        headers: response.headers,
        text: () => text,
        until: async (done) => {
          const deadline = Date.now() + 10_000;
          while (!done(text) && !ended) {
            if (Date.now() > deadline) throw new Error(`stream stalled; so far: ${JSON.stringify(text)}`);
            await new Promise<void>((wake) => {
              waiters.push(wake);
              setTimeout(wake, 100);
            });
          }
          return text;
        },
        close: () => request.destroy(),
      });
    });
    request.on("error", reject);
  });
}

const messages = (text: string) => text.split("\n\n\n").filter(Boolean).length;

describe("the jobs.events SSE route", () => {
  test("it serves EventSource requests itself (tRPC's stream says so in a header it sets)", async () => {
    const ours = await open({}, { sse: true });
    const trpcs = await open({}, { sse: false });
    await ours.until((text) => text.includes("connected"));
    await trpcs.until((text) => text.includes("connected"));
    ours.close();
    trpcs.close();
    // tRPC's fetch-style adapter sends chunked responses with "vary: trpc-accept"; ours does not vary.
    expect(trpcs.headers.vary).toBeDefined();
    expect(ours.headers.vary).toBeUndefined();
    for (const name of ["content-type", "cache-control", "x-accel-buffering", "connection"]) {
      expect(ours.headers[name], name).toBe(trpcs.headers[name]);
    }
  });

  test("live events: the same bytes as tRPC's stream", async () => {
    const ours = await open({}, { sse: true });
    const trpcs = await open({}, { sse: false });
    await ours.until((text) => messages(text) >= 1);
    await trpcs.until((text) => messages(text) >= 1);
    const client = app.client(token);
    const { jobId } = await client.jobs.enqueue.mutate(emailItem());
    await client.jobs.cancel.mutate({ jobId });
    const expected = await trpcs.until((text) => messages(text) >= 3);
    const got = await ours.until((text) => messages(text) >= 3);
    ours.close();
    trpcs.close();
    expect(got).toBe(expected);
    expect(got).toContain(`"jobId":"${jobId}"`);
    expect(got).toMatch(/^event: connected\ndata: \{\}\n\n\ndata: \{"json":/);
  });

  test("resuming with Last-Event-ID: the same backfill, then live, as tRPC", async () => {
    const client = app.client(token);
    const first = await client.jobs.enqueue.mutate(emailItem());
    await sleep(100);
    const { events } = await client.jobs.get.query({ jobId: first.jobId });
    const lastEventId = events.at(-1)?.id as string;
    const second = await client.jobs.enqueue.mutate(emailItem());
    await client.jobs.cancel.mutate({ jobId: second.jobId });
    const ours = await open({}, { sse: true, lastEventId });
    const trpcs = await open({}, { sse: false, lastEventId });
    const expected = await trpcs.until((text) => text.includes("cancelled"));
    const got = await ours.until((text) => text.includes("cancelled"));
    ours.close();
    trpcs.close();
    expect(got).toBe(expected);
    expect(got).toContain(second.jobId);
  });

  test("errors inside the stream: the same serialized-error event as tRPC (NOT_FOUND, PRECONDITION_FAILED)", async () => {
    const stranger = app.client(await app.token("stranger@example.com"));
    const { jobId } = await stranger.jobs.enqueue.mutate(emailItem());
    for (const input of [{ jobId }, { lastEventId: "1-1" }]) {
      const ours = await open(input, { sse: true });
      const trpcs = await open(input, { sse: false });
      const expected = await trpcs.until((text) => text.includes("serialized-error"));
      const got = await ours.until((text) => text.includes("serialized-error"));
      ours.close();
      trpcs.close();
      // In development the shape carries a stack trace, which names the caller: compare without it.
      const withoutStack = (text: string) => text.replace(/"stack":"(?:[^"\\]|\\.)*"/g, '"stack":"…"');
      expect(withoutStack(got)).toBe(withoutStack(expected));
      expect(got).toMatch(/"code":"(NOT_FOUND|PRECONDITION_FAILED)"/);
    }
  });

  test("bad input and missing credentials are left to tRPC: an error naming the field, UNAUTHORIZED", async () => {
    const bad = await open({ jobId: "not-a-uuid" }, { sse: true });
    const text = await bad.until((t) => t.includes("serialized-error"));
    bad.close();
    expect(text).toContain("jobId");
    expect(text).toContain("BAD_REQUEST");
    expect(bad.headers.vary).toBeDefined(); // tRPC answered
  });
});
