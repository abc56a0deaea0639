// MAX_BATCH_CALLS over real HTTP: a batch past the limit is refused whole,
// 400 BAD_REQUEST "a batch may hold at most <n> calls", before any call runs,
// read as such by tRPC's own batch links and by a plain fetch; and the
// dashboard's batch link (client/src/trpc.ts) never sends such a batch.
import {
  createTRPCClient,
  httpBatchLink,
  httpBatchStreamLink,
  type TRPCClientError,
  type TRPCLink,
} from "@trpc/client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { batchLimits } from "../../client/src/trpc.js";
import type { AppRouter } from "../../server/http/routers/_app.js";
import { transformer } from "../../shared/transformer.js";
import { startTestApp, type TestApp } from "../support/app.js";
import { emailItem } from "../support/fixtures.js";

const REFUSAL = "a batch may hold at most 50 calls";

function clientWith(
  app: TestApp,
  token: string,
  link: (opts: Parameters<typeof httpBatchLink>[0]) => TRPCLink<AppRouter>,
) {
  return createTRPCClient<AppRouter>({
    links: [link({ url: `${app.url}/trpc`, transformer, headers: { authorization: `Bearer ${token}` } })],
  });
}

const jobCount = async (app: TestApp) =>
  Number((await app.app.services.pool.query<{ n: string }>("select count(*) as n from jobs")).rows[0]?.n);

describe("MAX_BATCH_CALLS (default 50)", () => {
  let app: TestApp;
  let token: string;
  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off" });
    token = await app.token("batch@example.com");
  });
  afterAll(() => app?.close());

  const listCalls = (n: number) => ({
    path: Array.from({ length: n }, () => "jobs.list").join(","),
    input: Object.fromEntries(Array.from({ length: n }, (_, i) => [i, { json: {} }])),
  });

  test("a plain fetch of a 51-call GET batch gets one 400 BAD_REQUEST error in tRPC's wire format", async () => {
    const { path, input } = listCalls(51);
    const url = `${app.url}/trpc/${path}?batch=1&input=${encodeURIComponent(JSON.stringify(input))}`;
    const response = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    expect(response.status).toBe(400);
    expect(response.headers.get("content-type")).toBe("application/json");
    const body = (await response.json()) as { error: { json: { message: string; code: number; data: object } } };
    expect(body.error.json).toMatchObject({
      message: REFUSAL,
      code: -32600,
      data: { code: "BAD_REQUEST", httpStatus: 400 },
    });
  });

  test("50 calls pass; calls separated by %2C count too", async () => {
    const fifty = listCalls(50);
    const ok = await fetch(
      `${app.url}/trpc/${fifty.path}?batch=1&input=${encodeURIComponent(JSON.stringify(fifty.input))}`,
      { headers: { authorization: `Bearer ${token}` } },
    );
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as unknown[]).length).toBe(50);

    const { path, input } = listCalls(51);
    const encoded = path.replaceAll(",", "%2C");
    const refused = await fetch(
      `${app.url}/trpc/${encoded}?batch=1&input=${encodeURIComponent(JSON.stringify(input))}`,
      {
        headers: { authorization: `Bearer ${token}` },
      },
    );
    expect(refused.status).toBe(400);
  });

  test.each([
    ["httpBatchLink", httpBatchLink],
    ["httpBatchStreamLink", httpBatchStreamLink],
  ] as const)("@trpc/client's %s: each of 51 queries fails BAD_REQUEST with the message", async (_name, link) => {
    const client = clientWith(app, token, link as never);
    const results = await Promise.allSettled(Array.from({ length: 51 }, () => client.jobs.list.query({})));
    for (const result of results) {
      expect(result.status).toBe("rejected");
      const error = (result as PromiseRejectedResult).reason as TRPCClientError<AppRouter>;
      expect(error.message).toBe(REFUSAL);
      expect(error.data?.code).toBe("BAD_REQUEST");
      expect(error.data?.httpStatus).toBe(400);
    }
  });

  test("a mutation batch of 51 enqueues runs none of them; one of 50 runs them all", async () => {
    const client = clientWith(app, token, httpBatchLink as never);
    const before = await jobCount(app);
    const refused = await Promise.allSettled(Array.from({ length: 51 }, () => client.jobs.enqueue.mutate(emailItem())));
    expect(refused.every((r) => r.status === "rejected")).toBe(true);
    expect(await jobCount(app)).toBe(before);

    const accepted = await Promise.allSettled(
      Array.from({ length: 50 }, () => client.jobs.enqueue.mutate(emailItem())),
    );
    expect(accepted.every((r) => r.status === "fulfilled")).toBe(true);
    expect(await jobCount(app)).toBe(before + 50);
  });

  // Short inputs: only maxItems splits them. Long search strings: without the URL cap, 25 of
  // them make a URL Node refuses (its 16 KB header limit).
  test.each([
    ["short inputs", {}],
    ["long inputs", { search: "é".repeat(200) }],
  ])("the dashboard's batch link sends 120 parallel queries with %s without a refusal", async (_name, input) => {
    const seen: number[] = [];
    const client = createTRPCClient<AppRouter>({
      links: [
        httpBatchStreamLink({
          url: `${app.url}/trpc`,
          transformer,
          headers: { authorization: `Bearer ${token}` },
          fetch: (url, init) => {
            seen.push(new URL(String(url)).pathname.split("/").at(-1)?.split(",").length ?? 0);
            return fetch(url, init);
          },
          ...batchLimits,
        }),
      ],
    });
    const results = await Promise.allSettled(Array.from({ length: 120 }, () => client.jobs.list.query(input)));
    expect(results.filter((r) => r.status === "rejected")).toEqual([]);
    expect(seen.reduce((a, b) => a + b, 0)).toBe(120);
    expect(Math.max(...seen)).toBeLessThanOrEqual(25);
  });
});

describe("MAX_BATCH_CALLS=0", () => {
  let app: TestApp;
  let token: string;
  beforeAll(async () => {
    app = await startTestApp({ WORKER: "off", MAX_BATCH_CALLS: "0" });
    token = await app.token("unbatched@example.com");
  });
  afterAll(() => app?.close());

  test("turns the limit off: a batch of 51 runs", async () => {
    const client = clientWith(app, token, httpBatchLink as never);
    const results = await Promise.all(Array.from({ length: 51 }, () => client.jobs.list.query({})));
    expect(results).toHaveLength(51);
  });
});
