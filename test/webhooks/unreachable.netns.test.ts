// A delivery whose connect fails synchronously (ENETUNREACH: an IPv6-only host
// name seen from a host with no IPv6 route) is a failed attempt, and the worker
// process lives. The real worker (`npm run worker`, system DNS, the real
// connector) runs in a network namespace with nothing but loopback, reaching
// Postgres through a Unix socket, so no packet leaves the machine.
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Network } from "../../server/webhooks/network.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { createNetns, type Netns, type SocketBridge, skipWithoutNetns, unixSocketBridge } from "../support/netns.js";

const HOST = "v6only.example.test";
/** Public-looking, so the SSRF check passes; unreachable inside the namespace, which has no IPv6 route. */
const ADDRESS = "2606:4700:4700::1111";

const skip = skipWithoutNetns("the ENETUNREACH crash test needs a network namespace");

describe.skipIf(skip)("a worker whose delivery cannot reach the network", () => {
  let app: TestApp;
  let netns: Netns;
  let bridge: SocketBridge;
  let worker: ChildProcess;
  let output = "";
  let exited: Promise<number | null>;

  beforeAll(async () => {
    // The app (no worker) only creates the endpoint and the job; it never connects.
    const network: Network = {
      resolve: async (hostname) => (hostname === HOST ? [{ address: ADDRESS, family: 6 }] : []),
      connect: async () => {
        throw new Error("the app must not deliver: the worker in the namespace does");
      },
    };
    app = await startTestApp({ WORKER: "off" }, { network });
    const database = new URL(app.databaseUrl);
    bridge = await unixSocketBridge(
      `.s.PGSQL.${database.port || 5432}`,
      database.hostname,
      Number(database.port || 5432),
    );
    database.hostname = "localhost";
    database.searchParams.set("host", bridge.dir);
    netns = createNetns({ [HOST]: ADDRESS });
    worker = netns.spawn(process.execPath, ["--import", "tsx", "server/worker-main.ts"], {
      NODE_ENV: "test",
      DATABASE_URL: database.toString(),
      DATA_DIR: bridge.dir,
      LOG_LEVEL: "warn",
      WORKER_CONCURRENCY: "1",
      WEBHOOK_TIMEOUT_MS: "10000",
    });
    worker.stdout?.on("data", (d) => {
      output += d;
    });
    worker.stderr?.on("data", (d) => {
      output += d;
    });
    exited = new Promise((resolve) => worker.on("exit", (code) => resolve(code)));
  }, 90_000);

  afterAll(async () => {
    if (worker && worker.exitCode === null && worker.signalCode === null) {
      worker.kill("SIGKILL");
      await exited;
    }
    netns?.close();
    await bridge?.close();
    await app?.close();
  });

  test("records a failed attempt naming ENETUNREACH, retries, and the process lives", async () => {
    const client = app.client(await app.token("unreachable@example.com"));
    const { id } = await client.webhooks.createEndpoint.mutate({ url: `http://${HOST}/hook` });
    const { jobId } = await client.jobs.enqueue.mutate({
      type: "webhook",
      payload: { endpointId: id, event: "order.created", data: { id: 1 } },
    });
    const died = exited.then((code) => {
      throw new Error(`the worker died (exit ${code}):\n${output}`);
    });
    const attempts = await Promise.race([
      died,
      eventually(async () => {
        const logged = await client.webhooks.attempts.query({ jobId });
        return logged.length > 0 ? logged : undefined;
      }, 60_000),
    ]);
    expect(attempts[0]).toMatchObject({ attempt: 1, statusCode: null, error: expect.stringMatching(/ENETUNREACH/) });
    const job = await Promise.race([
      died,
      eventually(async () => {
        const current = await client.jobs.get.query({ jobId });
        return current.events.some((e) => e.status === "retrying") ? current : undefined;
      }, 60_000),
    ]);
    expect(job.error).toMatch(/ENETUNREACH/);
    // Alive after the failure: it answers SIGTERM with a clean shutdown.
    expect(worker.exitCode).toBeNull();
    worker.kill("SIGTERM");
    expect(await exited).toBe(0);
  }, 120_000);
});
