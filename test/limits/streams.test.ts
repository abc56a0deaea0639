// MAX_STREAMS_PER_USER over real HTTP: open jobs.events streams per user in
// one server process, counted once across the hand-written SSE route and
// tRPC's own subscription. The next stream ends with TOO_MANY_REQUESTS as a
// serialized-error event (what httpSubscriptionLink hands to onError); a slot
// comes back exactly once however the stream ends, so nothing leaks.
import http from "node:http";
import type { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { AppRouter } from "../../server/http/routers/_app.js";
import { streamLimiter } from "../../server/limits/streams.js";
import { transformer } from "../../shared/transformer.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { emailItem } from "../support/fixtures.js";
import { record } from "../support/stream.js";

interface RawStream {
  /** Resolves with the stream's text once it holds `needle` (or the stream ended). */
  until: (needle: string) => Promise<string>;
  ended: Promise<string>;
  close: () => void;
}

/** A jobs.events request: `sse` sends EventSource's Accept (the hand-written route), else tRPC serves it. */
function open(app: TestApp, token: string, sse: boolean, input: object = {}): RawStream {
  const url = new URL(`${app.url}/trpc/jobs.events`);
  url.searchParams.set("input", JSON.stringify({ json: input }));
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (sse) headers.accept = "text/event-stream";
  let text = "";
  let done = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const waiter of waiters) waiter();
  };
  let markEnded: (text: string) => void = () => {};
  const ended = new Promise<string>((resolve) => {
    markEnded = resolve;
  });
  const finish = () => {
    done = true;
    markEnded(text);
    wake();
  };
  const request = http.get(url, { headers }, (response) => {
    response.setEncoding("utf8");
    response.on("data", (chunk: string) => {
      text += chunk;
      wake();
    });
    response.on("end", finish);
    response.on("close", finish);
  });
  request.on("error", finish);
  return {
    until: (needle) =>
      new Promise((resolve) => {
        const check = () => {
          if (!text.includes(needle) && !done) return;
          waiters.delete(check);
          resolve(text);
        };
        waiters.add(check);
        check();
      }),
    ended,
    close: () => request.destroy(),
  };
}

/** The shape of the stream's serialized-error event, as the client deserialises it. */
function errorOf(text: string): { message: string; data: { code: string; retryAfterMs?: number } } {
  const match = /event: serialized-error\ndata: (.*)\n/.exec(text);
  if (!match?.[1]) throw new Error(`no serialized-error in ${JSON.stringify(text)}`);
  return transformer.deserialize(JSON.parse(match[1]));
}

describe("MAX_STREAMS_PER_USER (default 20)", () => {
  let app: TestApp;
  let ada: { id: string; token: string };
  let bob: { id: string; token: string };
  const count = (userId?: string) => streamLimiter(app.app.services).count(userId);
  const countReaches = (n: number, userId?: string) => eventually(async () => count(userId) === n);

  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off" });
    const user = async (email: string) => {
      const token = await app.token(email);
      const { id } = await app.app.services.db.user.findUniqueOrThrow({ where: { email } });
      return { id, token };
    };
    ada = await user("ada@example.com");
    bob = await user("bob@example.com");
  });
  afterAll(() => app?.close());

  test("20 open across both routes; the 21st is refused on either; closing one lets a new one in; all closed leaves 0", async () => {
    const streams: RawStream[] = [];
    for (let i = 0; i < 20; i++) {
      streams.push(open(app, ada.token, i % 2 === 0));
      await countReaches(i + 1, ada.id);
    }
    for (const sse of [true, false]) {
      const refused = open(app, ada.token, sse);
      const text = await refused.ended;
      const error = errorOf(text);
      expect(error.data.code).toBe("TOO_MANY_REQUESTS");
      expect(error.message).toBe("Too many open event streams: at most 20 per user");
      expect(error.data.retryAfterMs).toBeGreaterThan(0);
      expect(count(ada.id)).toBe(20);
    }

    // Another user is unaffected.
    const bobs = open(app, bob.token, true);
    await countReaches(1, bob.id);

    streams.shift()?.close();
    await countReaches(19, ada.id);
    for (const sse of [true, false]) {
      streams.push(open(app, ada.token, sse));
      await countReaches(20, ada.id);
      streams.shift()?.close();
      await countReaches(19, ada.id);
    }

    for (const stream of [...streams, bobs]) stream.close();
    await countReaches(0);
  });

  test("the stream still delivers after a refusal, and the client sees TOO_MANY_REQUESTS in onError", async () => {
    const client = app.client(ada.token);
    const streams = Array.from({ length: 20 }, () => record(client));
    await countReaches(20, ada.id);
    const refused = record(client);
    const error = (await refused.waitForError()) as TRPCClientError<AppRouter>;
    expect(error.data?.code).toBe("TOO_MANY_REQUESTS");
    expect(error.message).toBe("Too many open event streams: at most 20 per user");

    const { jobId } = await client.jobs.enqueue.mutate(emailItem());
    await streams[0]?.waitFor((events) => events.some((e) => e.jobId === jobId));
    for (const stream of [...streams, refused]) stream.stop();
    await countReaches(0);
  });

  test("a stream that fails to open (NOT_FOUND) gives its slot back, on either route", async () => {
    for (const sse of [true, false]) {
      const stream = open(app, ada.token, sse, { jobId: "00000000-0000-4000-8000-000000000000" });
      expect(errorOf(await stream.ended).data.code).toBe("NOT_FOUND");
    }
    await countReaches(0);
  });
});

describe("MAX_STREAMS_PER_USER=0", () => {
  let app: TestApp;
  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off", MAX_STREAMS_PER_USER: "0" });
  });
  afterAll(() => app?.close());

  test("turns the limit off: a 21st stream opens", async () => {
    const token = await app.token("many@example.com");
    const streams = Array.from({ length: 21 }, (_, i) => open(app, token, i % 2 === 0));
    await eventually(async () => streamLimiter(app.app.services).count() === 21);
    for (const stream of streams) stream.close();
    await eventually(async () => streamLimiter(app.app.services).count() === 0);
  });
});
