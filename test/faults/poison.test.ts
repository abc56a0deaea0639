// Fault: a poison job (it always fails) ends in the dead-letter queue after
// its max attempts, and nothing keeps re-running it.
import { afterAll, beforeAll, expect, test } from "vitest";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { startReceiver, type TestReceiver } from "../support/receiver.js";

let receiver: TestReceiver;
let app: TestApp;
beforeAll(async () => {
  receiver = await startReceiver();
  app = await startTestApp(
    { WEBHOOK_ALLOW_LOOPBACK: "true" },
    { tuning: { webhook: { backoff: { baseMs: 10, maxMs: 20 } } } },
  );
});
afterAll(async () => {
  await app?.close();
  await receiver?.close();
});

test("a job that always throws is dead-lettered after its max attempts, with no loop", async () => {
  const client = app.client(await app.token("poison@example.com"));
  const endpoint = await client.webhooks.createEndpoint.mutate({ url: receiver.url("/poison") });
  receiver.script(...Array.from({ length: 50 }, () => ({ status: 500 })));
  const { jobId } = await client.jobs.enqueue.mutate({
    type: "webhook",
    payload: { endpointId: endpoint.id, event: "poison", data: null },
  });
  const job = await eventually(async () => {
    const current = await client.jobs.get.query({ jobId });
    return current.status === "failed" ? current : undefined;
  }, 30_000);
  expect(job).toMatchObject({ attempt: 8, maxAttempts: 8, reason: "retries_exhausted", inDeadLetterQueue: true });
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(receiver.received).toHaveLength(8);
  const { rows } = await app.app.services.pool.query(
    "SELECT count(*)::int AS n FROM graphile_worker._private_jobs WHERE key = $1",
    [jobId],
  );
  expect(rows[0].n).toBe(0);
  expect((await client.jobs.get.query({ jobId })).attempt).toBe(8);
}, 60_000);
