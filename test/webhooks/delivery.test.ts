// Webhook delivery to a real HTTP receiver on loopback (WEBHOOK_ALLOW_LOOPBACK
// on for this file only): signatures, the status-code matrix, Retry-After,
// timeouts, no redirects, 410, the attempt log, rotation, replay, and the
// dead-letter queue.
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "vitest";
import { verifyWebhook } from "../../server/webhooks/verify.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { rejection } from "../support/fixtures.js";
import { startReceiver, type TestReceiver } from "../support/receiver.js";

let receiver: TestReceiver;
let app: TestApp;
let client: ReturnType<TestApp["client"]>;
let endpoint: { id: string; secret: string };

beforeAll(async () => {
  receiver = await startReceiver();
  app = await startTestApp(
    { WEBHOOK_ALLOW_LOOPBACK: "true", WEBHOOK_TIMEOUT_MS: "400" },
    { tuning: { webhook: { backoff: { baseMs: 20, maxMs: 40 } } } },
  );
  client = app.client(await app.token("hooks@example.com"));
});
afterAll(async () => {
  await app?.close();
  await receiver?.close();
});
beforeEach(async () => {
  receiver.received.length = 0;
  endpoint = await client.webhooks.createEndpoint.mutate({ url: receiver.url(), description: "test receiver" });
});

async function deliver(data: unknown = { id: 1 }) {
  const { jobId } = await client.jobs.enqueue.mutate({
    type: "webhook",
    payload: { endpointId: endpoint.id, event: "order.created", data },
  });
  const job = await eventually(async () => {
    const current = await client.jobs.get.query({ jobId });
    return ["succeeded", "failed"].includes(current.status) ? current : undefined;
  }, 20_000);
  return { job, attempts: await client.webhooks.attempts.query({ jobId }) };
}

describe("a delivery", () => {
  test("is a signed Standard Webhooks POST that the receiver verifies; 2xx succeeds", async () => {
    receiver.script({ status: 204 });
    const { job, attempts } = await deliver({ id: 42, items: ["a"] });
    expect(job).toMatchObject({ status: "succeeded", result: { status: 204, attempts: 1 } });
    const [request] = receiver.received;
    expect(request?.headers["content-type"]).toBe("application/json");
    expect(request?.headers["webhook-id"]).toBe(`msg_${job.id.replaceAll("-", "")}`);
    expect(request?.headers["webhook-timestamp"]).toMatch(/^\d{10}$/);
    expect(request?.headers["webhook-signature"]).toMatch(/^v1,[A-Za-z0-9+/=]+$/);
    const event = verifyWebhook(endpoint.secret, request?.body ?? "", request?.headers ?? {});
    expect(event).toMatchObject({ type: "order.created", data: { id: 42, items: ["a"] } });
    expect(attempts).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: 204, durationMs: expect.any(Number), error: null }),
    ]);
  });

  test.each([408, 429, 500, 502, 503])("%i is retried, with the same webhook-id, until it succeeds", async (status) => {
    receiver.script({ status }, { status: 200 });
    const { job, attempts } = await deliver();
    expect(job).toMatchObject({ status: "succeeded", attempt: 2, result: { status: 200, attempts: 2 } });
    expect(attempts.map((a) => a.statusCode)).toEqual([status, 200]);
    const ids = receiver.received.map((r) => r.headers["webhook-id"]);
    expect(new Set(ids).size).toBe(1);
  });

  test.each([400, 401, 403, 404, 422])("%i fails permanently, at once", async (status) => {
    receiver.script({ status, body: "nope" });
    const { job } = await deliver();
    expect(job).toMatchObject({ status: "failed", attempt: 1, reason: "permanent_error", inDeadLetterQueue: true });
    expect(job.error).toContain(String(status));
  });

  test("a redirect is not followed and fails permanently, even to a private address", async () => {
    receiver.script({ status: 302, headers: { location: "http://10.0.0.1/steal" } });
    const { job } = await deliver();
    expect(job).toMatchObject({ status: "failed", attempt: 1, reason: "permanent_error" });
    expect(job.error).toMatch(/redirects are not followed/);
    expect(receiver.received).toHaveLength(1);
  });

  test("410 Gone disables the endpoint and fails permanently", async () => {
    receiver.script({ status: 410 });
    const { job } = await deliver();
    expect(job).toMatchObject({ status: "failed", reason: "permanent_error" });
    const listed = (await client.webhooks.listEndpoints.query()).find((e) => e.id === endpoint.id);
    expect(listed?.disabled).toBe(true);
    // A disabled endpoint cannot be used for new jobs.
    const error = await rejection(
      client.jobs.enqueue.mutate({ type: "webhook", payload: { endpointId: endpoint.id, event: "x", data: null } }),
    );
    expect(error.data?.zodError?.issues[0]?.path).toEqual(["payload", "endpointId"]);
  });

  test("Retry-After is honoured: the next attempt is scheduled no sooner", async () => {
    receiver.script({ status: 429, headers: { "retry-after": "1" } }, { status: 200 });
    const { job } = await deliver();
    expect(job.status).toBe("succeeded");
    const retrying = job.events.find((e) => e.status === "retrying");
    expect(retrying?.nextRunAt && retrying.nextRunAt.getTime() - retrying.at.getTime()).toBeGreaterThanOrEqual(990);
    const [first, second] = receiver.received;
    expect((second?.at ?? 0) - (first?.at ?? 0)).toBeGreaterThanOrEqual(900);
  });

  test("a receiver that does not answer in time is retried (timeout)", async () => {
    receiver.script({ status: 200, delayMs: 2000 }, { status: 200 });
    const { job, attempts } = await deliver();
    expect(job).toMatchObject({ status: "succeeded", attempt: 2 });
    expect(attempts[0]).toMatchObject({ statusCode: null, error: expect.stringMatching(/timed out/) });
  });

  test("the attempt log keeps at most 1 KB of the response", async () => {
    receiver.script({ status: 500, body: "x".repeat(5000) }, { status: 200, body: "thanks" });
    const { attempts } = await deliver();
    expect(attempts[0]?.responseExcerpt?.length).toBeLessThanOrEqual(1024);
    expect(attempts[0]?.responseExcerpt?.length).toBeGreaterThan(0);
    expect(attempts[1]?.responseExcerpt).toBe("thanks");
  });

  test("after the last attempt it fails into the dead-letter queue (retries_exhausted), then requeue and discard work", async () => {
    receiver.script(...Array.from({ length: 8 }, () => ({ status: 503 })));
    const { job, attempts } = await deliver();
    expect(job).toMatchObject({ status: "failed", attempt: 8, reason: "retries_exhausted", inDeadLetterQueue: true });
    expect(attempts).toHaveLength(8);
    receiver.script({ status: 200 });
    await client.dlq.requeue.mutate({ jobId: job.id });
    const done = await eventually(async () => {
      const current = await client.jobs.get.query({ jobId: job.id });
      return current.status === "succeeded" ? current : undefined;
    });
    expect(done.attempt).toBe(1);
    expect(await client.webhooks.attempts.query({ jobId: job.id })).toHaveLength(9); // history kept
  });

  test("replay sends the event again as a new delivery", async () => {
    const { job } = await deliver({ id: 7 });
    const replayed = await client.webhooks.replay.mutate({ jobId: job.id });
    expect(replayed.jobId).not.toBe(job.id);
    await eventually(async () => (await client.jobs.get.query({ jobId: replayed.jobId })).status === "succeeded");
    expect(receiver.received.map((r) => JSON.parse(r.body).data)).toEqual([{ id: 7 }, { id: 7 }]);
  });
});

describe("endpoints", () => {
  test("rotating the secret signs with both secrets during the grace period", async () => {
    const { secret: next } = await client.webhooks.rotateSecret.mutate({ id: endpoint.id });
    expect(next).not.toBe(endpoint.secret);
    await deliver();
    const [request] = receiver.received;
    expect(String(request?.headers["webhook-signature"]).split(" ")).toHaveLength(2);
    expect(() => verifyWebhook(next, request?.body ?? "", request?.headers ?? {})).not.toThrow();
    expect(() => verifyWebhook(endpoint.secret, request?.body ?? "", request?.headers ?? {})).not.toThrow();
  });

  test("belong to their user: another user's endpoint is NOT_FOUND and cannot be used", async () => {
    const other = app.client(await app.token("other-hooks@example.com"));
    expect((await rejection(other.webhooks.rotateSecret.mutate({ id: endpoint.id }))).data?.code).toBe("NOT_FOUND");
    expect((await rejection(other.webhooks.deleteEndpoint.mutate({ id: endpoint.id }))).data?.code).toBe("NOT_FOUND");
    expect(await other.webhooks.listEndpoints.query()).toEqual([]);
    const error = await rejection(
      other.jobs.enqueue.mutate({ type: "webhook", payload: { endpointId: endpoint.id, event: "x", data: 1 } }),
    );
    expect(error.data?.code).toBe("BAD_REQUEST");
    expect(error.data?.zodError?.issues[0]?.path).toEqual(["payload", "endpointId"]);
  });

  test("the list never shows secrets; disable and delete work", async () => {
    const listed = await client.webhooks.listEndpoints.query();
    expect(JSON.stringify(listed)).not.toContain("whsec_");
    expect((await client.webhooks.disableEndpoint.mutate({ id: endpoint.id })).disabled).toBe(true);
    await client.webhooks.deleteEndpoint.mutate({ id: endpoint.id });
    expect((await client.webhooks.listEndpoints.query()).some((e) => e.id === endpoint.id)).toBe(false);
  });
});

describe("the development receiver", () => {
  test("records verified deliveries and can fail the next N, showing retries", async () => {
    const dev = await client.webhooks.createEndpoint.mutate({ url: `${app.url}/dev/webhooks/demo` });
    await fetch(`${app.url}/dev/webhooks/demo/fail?count=2`, { method: "POST" });
    const { jobId } = await client.jobs.enqueue.mutate({
      type: "webhook",
      payload: { endpointId: dev.id, event: "demo.ping", data: { hello: "world" } },
    });
    const job = await eventually(async () => {
      const current = await client.jobs.get.query({ jobId });
      return current.status === "succeeded" ? current : undefined;
    });
    expect(job.attempt).toBe(3);
    const log = (await (await fetch(`${app.url}/dev/webhooks/demo`)).json()) as {
      deliveries: { verified: boolean; body: string }[];
    };
    expect(log.deliveries).toHaveLength(1);
    expect(log.deliveries[0]?.verified).toBe(true);
  });
});
