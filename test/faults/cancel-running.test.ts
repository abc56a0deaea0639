// Cancelling a running job from the API reaches its handler in another worker
// process (through Postgres): the request is aborted, the job ends cancelled
// and is not retried.
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { spawnWorker, type WorkerProcess } from "../support/processes.js";
import { startReceiver, type TestReceiver } from "../support/receiver.js";

let receiver: TestReceiver;
let server: TestApp;
let worker: WorkerProcess | undefined;

beforeAll(async () => {
  receiver = await startReceiver();
  server = await startTestApp({ WORKER: "off", WEBHOOK_ALLOW_LOOPBACK: "true" });
});
afterAll(async () => {
  worker?.kill("SIGKILL");
  await server?.close();
  await receiver?.close();
});

test("jobs.cancel on a running job stops its handler in another process; the job ends cancelled, not retried", async () => {
  const client = server.client(await server.token("cancel@example.com"));
  const endpoint = await client.webhooks.createEndpoint.mutate({ url: receiver.url("/slow") });
  receiver.script({ status: 200, delayMs: 20_000 });
  worker = spawnWorker({
    DATABASE_URL: server.databaseUrl,
    WEBHOOK_ALLOW_LOOPBACK: "true",
    WEBHOOK_TIMEOUT_MS: "30000",
  });
  const { jobId } = await client.jobs.enqueue.mutate({
    type: "webhook",
    payload: { endpointId: endpoint.id, event: "slow.thing", data: {} },
  });
  await eventually(async () => receiver.received.length === 1, 30_000);
  expect((await client.jobs.get.query({ jobId })).status).toBe("running");

  const cancelled = await client.jobs.cancel.mutate({ jobId });
  expect(cancelled.status).toBe("cancelled");
  // The handler stopped: its attempt is logged as aborted, well before the receiver's 20 s.
  const attempts = await eventually(async () => {
    const list = await client.webhooks.attempts.query({ jobId });
    return list.length > 0 ? list : undefined;
  }, 10_000);
  expect(attempts[0]?.error).toMatch(/abort|cancel/i);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const job = await client.jobs.get.query({ jobId });
  expect(job).toMatchObject({ status: "cancelled", attempt: 1 });
  expect(job.events.map((e) => e.status)).toEqual(["pending", "running", "cancelled"]);
  expect(receiver.received).toHaveLength(1);
}, 60_000);
