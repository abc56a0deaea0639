// Every way a delivery can fail on the network is a failed attempt, logged in
// webhook_attempts with an error naming the cause, and retried; the whole
// delivery, DNS lookup included, is bounded by WEBHOOK_TIMEOUT_MS. Real
// loopback servers and the real connector; only the resolver is scripted.
import http from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { httpConnector } from "../../server/webhooks/http.js";
import type { Network } from "../../server/webhooks/network.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { gate } from "../support/fixtures.js";

const TIMEOUT_MS = 1000;
type Answer = () => Promise<{ address: string; family: 4 | 6 }[]>;
const loopback: Answer = async () => [{ address: "127.0.0.1", family: 4 }];
const dnsError = (code: string) => async () => {
  throw Object.assign(new Error(`getaddrinfo ${code} host.example.test`), { code });
};

let app: TestApp;
let client: ReturnType<TestApp["client"]>;
let server: http.Server;
let port: number;
let closedPort: number;
const answers = new Map<string, Answer>();
const neverAnswered = gate<{ address: string; family: 4 | 6 }[]>();

function listen(target: net.Server): Promise<number> {
  return new Promise((resolve) =>
    target.listen(0, "127.0.0.1", () => resolve((target.address() as net.AddressInfo).port)),
  );
}

beforeAll(async () => {
  // /reset sends headers and part of the body, then drops the connection;
  // /drip sends headers, then one byte every quarter second, for ever.
  server = http.createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      if (req.url === "/reset") {
        res.writeHead(200, { "content-length": "100" });
        res.write("partial", () => req.socket.destroy());
      } else if (req.url === "/upgrade") {
        // A 101 the client never asked for: Node emits neither 'response' nor 'error' for it.
        req.socket.write("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: Upgrade\r\n\r\n");
      } else if (req.url === "/drip") {
        res.writeHead(200, { "content-length": "100000" });
        const timer = setInterval(() => res.write("x"), 250);
        res.on("close", () => clearInterval(timer));
      } else {
        res.end("ok");
      }
    });
  });
  port = await listen(server);
  const closed = net.createServer();
  closedPort = await listen(closed);
  await new Promise((resolve) => closed.close(resolve)); // nothing listens there now

  const network: Network = {
    resolve: (hostname) => (answers.get(hostname) ?? dnsError("ENOTFOUND"))(),
    connect: httpConnector,
  };
  app = await startTestApp(
    { WEBHOOK_ALLOW_LOOPBACK: "true", WEBHOOK_TIMEOUT_MS: String(TIMEOUT_MS) },
    // A retry far off: each test sees exactly one attempt, then the job waiting to retry.
    { network, tuning: { webhook: { backoff: { baseMs: 600_000, maxMs: 600_000 } } } },
  );
  client = app.client(await app.token("failures@example.com"));
});

afterAll(async () => {
  neverAnswered.open([]);
  await app?.close();
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
});

/** Creates the endpoint while `host` resolves to loopback, then answers with `atDelivery`. */
async function failedDelivery(host: string, url: string, atDelivery: Answer = loopback) {
  answers.set(host, loopback);
  const { id } = await client.webhooks.createEndpoint.mutate({ url });
  answers.set(host, atDelivery);
  const { jobId } = await client.jobs.enqueue.mutate({
    type: "webhook",
    payload: { endpointId: id, event: "order.created", data: { id: 1 } },
  });
  const job = await eventually(async () => {
    const current = await client.jobs.get.query({ jobId });
    return current.status === "pending" || current.status === "running" ? undefined : current;
  }, 20_000);
  const attempts = await client.webhooks.attempts.query({ jobId });
  if (job.status === "retrying") await client.jobs.cancel.mutate({ jobId });
  return { job, attempts };
}

describe("a delivery that fails is a failed attempt naming the cause, and is retried", () => {
  test.each([
    [
      "refused (nothing listens)",
      "refused.example.test",
      () => `http://refused.example.test:${closedPort}/hook`,
      loopback,
      /ECONNREFUSED/,
    ],
    [
      "a DNS failure (ENOTFOUND)",
      "gone.example.test",
      () => `http://gone.example.test:${port}/`,
      dnsError("ENOTFOUND"),
      /could not resolve the host \(ENOTFOUND\)/,
    ],
    [
      "a DNS failure (EAI_AGAIN)",
      "flaky.example.test",
      () => `http://flaky.example.test:${port}/`,
      dnsError("EAI_AGAIN"),
      /could not resolve the host \(EAI_AGAIN\)/,
    ],
    [
      "a TLS failure (https to a plain HTTP server)",
      "tls.example.test",
      () => `https://tls.example.test:${port}/`,
      loopback,
      /EPROTO|SSL|TLS/,
    ],
    [
      "a 101 Switching Protocols answer (fails at once, not at the deadline)",
      "upgrade.example.test",
      () => `http://upgrade.example.test:${port}/upgrade`,
      loopback,
      /101 Switching Protocols/,
    ],
    ["a reset mid-body", "reset.example.test", () => `http://reset.example.test:${port}/reset`, loopback, /ECONNRESET/],
    [
      "a receiver that drips one byte at a time",
      "drip.example.test",
      () => `http://drip.example.test:${port}/drip`,
      loopback,
      new RegExp(`^timed out after ${TIMEOUT_MS} ms$`),
    ],
    [
      "a DNS lookup slower than the time limit",
      "slow.example.test",
      () => `http://slow.example.test:${port}/`,
      () => neverAnswered.promise,
      new RegExp(`^timed out after ${TIMEOUT_MS} ms$`),
    ],
  ] as const)("%s", async (_name, host, url, atDelivery, cause) => {
    const { job, attempts } = await failedDelivery(host, url(), atDelivery);
    expect(job).toMatchObject({ status: "retrying", attempt: 1 });
    expect(job.error).toMatch(/^delivery failed: /);
    expect(job.error?.replace(/^delivery failed: /, "")).toMatch(cause);
    expect(attempts).toEqual([
      expect.objectContaining({ attempt: 1, statusCode: null, error: expect.stringMatching(cause) }),
    ]);
  });
});
