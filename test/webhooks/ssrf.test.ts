// Server-side request forgery: every spelling of a non-public target is refused
// at endpoint creation and again at delivery, with a resolver and a connector
// that record every attempt, so the tests prove no connection was tried and
// send no traffic anywhere but loopback.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Network } from "../../server/tasks/types.js";
import { checkTarget, refusedAddress } from "../../server/webhooks/ssrf.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { rejection } from "../support/fixtures.js";

function recordingNetwork(dns: Record<string, string[]> = {}) {
  const resolved: string[] = [];
  const connected: string[] = [];
  const network: Network = {
    resolve: async (hostname) => {
      resolved.push(hostname);
      const addresses = dns[hostname] ?? [];
      return addresses.map((address) => ({ address, family: address.includes(":") ? 6 : 4 }));
    },
    connect: async (request) => {
      connected.push(`${request.target.address} ${request.target.url.href}`);
      return { status: 200, headers: {}, excerpt: "ok" };
    },
  };
  return { network, resolved, connected };
}

const REFUSED_URLS = [
  "http://127.0.0.1/hook",
  "http://2130706433/hook", // decimal
  "http://0177.0.0.1/hook", // octal
  "http://0x7f.0.0.1/hook", // hex
  "http://0x7f000001/hook",
  "http://127.1/hook", // shortened
  "http://localhost/hook",
  "http://localhost./hook", // trailing dot
  "http://[::1]/hook",
  "http://[::ffff:127.0.0.1]/hook", // IPv4-mapped IPv6
  "http://[::ffff:a00:1]/hook",
  "http://0.0.0.0/hook",
  "http://0/hook",
  "http://[::]/hook",
  "http://10.0.0.1/hook",
  "http://172.16.5.4/hook",
  "http://192.168.1.1/hook",
  "http://169.254.169.254/latest/meta-data",
  "http://169.254.1.1/hook", // link-local
  "http://100.64.0.1/hook", // CGNAT
  "http://100.100.100.200/hook", // Alibaba metadata
  "http://[fc00::1]/hook", // unique local
  "http://[fd00:ec2::254]/hook", // AWS metadata over IPv6
  "http://[fe80::1]/hook", // link-local v6
  "http://224.0.0.1/hook", // multicast
  "http://[ff02::1]/hook",
  "http://255.255.255.255/hook", // broadcast
  "http://metadata.google.internal/computeMetadata/v1/",
  "http://metadata.google.internal./computeMetadata/v1/",
  "http://user:pass@example.com/hook", // userinfo
  "http://example.com@127.0.0.1/hook",
  "ftp://example.com/hook",
  "file:///etc/passwd",
  "gopher://example.com/",
  "not a url",
];

describe("endpoint creation", () => {
  let app: TestApp;
  let net: ReturnType<typeof recordingNetwork>;
  let client: ReturnType<TestApp["client"]>;
  beforeAll(async () => {
    net = recordingNetwork({
      "internal.example.test": ["10.1.2.3"],
      "mixed.example.test": ["93.184.216.34", "192.168.0.10"],
      "rebind.example.test": ["::ffff:169.254.169.254"],
      "public.example.test": ["93.184.216.34"],
    });
    app = await startTestApp({ WORKER: "off", WEBHOOK_ALLOW_LOOPBACK: "false" }, { network: net.network });
    client = app.client(await app.token("ssrf@example.com"));
  });
  afterAll(() => app?.close());

  test.each(REFUSED_URLS)("refuses %s with BAD_REQUEST naming url, connecting nowhere", async (url) => {
    const error = await rejection(client.webhooks.createEndpoint.mutate({ url }));
    expect(error.data?.code).toBe("BAD_REQUEST");
    expect(error.data?.zodError?.issues[0]?.path).toEqual(["url"]);
    expect(net.connected).toEqual([]);
  });

  test.each(["internal.example.test", "mixed.example.test", "rebind.example.test", "unknown.example.test"])(
    "refuses a host name that resolves to a non-public address (%s)",
    async (host) => {
      const error = await rejection(client.webhooks.createEndpoint.mutate({ url: `https://${host}/hook` }));
      expect(error.data?.code).toBe("BAD_REQUEST");
      expect(net.resolved).toContain(host);
      expect(net.connected).toEqual([]);
    },
  );

  test("accepts a public host and never connects while creating", async () => {
    const created = await client.webhooks.createEndpoint.mutate({ url: "https://public.example.test/hook" });
    expect(created.secret).toMatch(/^whsec_/);
    expect(net.connected).toEqual([]);
    expect((await client.webhooks.listEndpoints.query()).map((e) => e.url)).toEqual([
      "https://public.example.test/hook",
    ]);
  });

  test("nothing is stored for a refused endpoint", async () => {
    const { rows } = await app.app.services.pool.query("SELECT url FROM webhook_endpoints");
    expect(rows).toEqual([{ url: "https://public.example.test/hook" }]);
  });
});

describe("delivery", () => {
  test("re-checks at delivery: a host that now resolves to a private address is refused without connecting", async () => {
    const dns: Record<string, string[]> = { "flip.example.test": ["93.184.216.34"] };
    const net = recordingNetwork(dns);
    const app = await startTestApp(
      { WEBHOOK_ALLOW_LOOPBACK: "false" },
      { network: net.network, tuning: { webhook: { backoff: { baseMs: 10, maxMs: 10 } } } },
    );
    try {
      const client = app.client(await app.token("flip@example.com"));
      const { id } = await client.webhooks.createEndpoint.mutate({ url: "https://flip.example.test/hook" });
      dns["flip.example.test"] = ["10.0.0.7"]; // DNS rebinding after creation
      const { jobId } = await client.jobs.enqueue.mutate({
        type: "webhook",
        payload: { endpointId: id, event: "order.created", data: { id: 1 } },
      });
      const job = await eventually(async () => {
        const current = await client.jobs.get.query({ jobId });
        return current.status === "failed" ? current : undefined;
      });
      expect(job).toMatchObject({ reason: "permanent_error", attempt: 1 });
      expect(job.error).toMatch(/10\.0\.0\.7/);
      expect(net.connected).toEqual([]);
      const attempts = await client.webhooks.attempts.query({ jobId });
      expect(attempts).toHaveLength(1);
      expect(attempts[0]?.error).toMatch(/refused/);
    } finally {
      await app.close();
    }
  });

  test("connects to the address that was checked, resolving the host once", async () => {
    const net = recordingNetwork({ "once.example.test": ["93.184.216.34"] });
    const target = await checkTarget("https://once.example.test/x", {
      allowLoopback: false,
      resolve: net.network.resolve,
    });
    expect(target.address).toBe("93.184.216.34");
    expect(net.resolved).toEqual(["once.example.test"]);
  });
});

test("address classification: loopback only with WEBHOOK_ALLOW_LOOPBACK, private never", () => {
  expect(refusedAddress("127.0.0.1", false)).toMatch(/loopback/);
  expect(refusedAddress("127.0.0.1", true)).toBeUndefined();
  expect(refusedAddress("::1", true)).toBeUndefined();
  expect(refusedAddress("10.0.0.1", true)).toMatch(/private/);
  expect(refusedAddress("::ffff:10.0.0.1", true)).toMatch(/private/);
  expect(refusedAddress("169.254.169.254", true)).toMatch(/metadata/);
  expect(refusedAddress("93.184.216.34", false)).toBeUndefined();
  expect(refusedAddress("2606:2800:220:1:248:1893:25c8:1946", false)).toBeUndefined();
});
