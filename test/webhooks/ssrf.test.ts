// Server-side request forgery: every spelling of a non-public target is refused
// at endpoint creation and again at delivery, with a resolver and a connector
// that record every attempt, so the tests prove no connection was tried and
// send no traffic anywhere but loopback.
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Network } from "../../server/webhooks/network.js";
import { checkTarget, refusedAddress, UnresolvedHostError, UnsafeTargetError } from "../../server/webhooks/ssrf.js";
import { eventually, startTestApp, type TestApp } from "../support/app.js";
import { rejection } from "../support/fixtures.js";

function recordingNetwork(dns: Record<string, string[]> = {}) {
  const resolved: string[] = [];
  const connected: string[] = [];
  const network: Network = {
    resolve: async (hostname) => {
      resolved.push(hostname);
      const addresses = dns[hostname];
      // As the system resolver does for a name that does not exist.
      if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: "ENOTFOUND" });
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
  "http://[::7f00:1]/hook", // IPv4-compatible IPv6 (::/96)
  "http://[::127.0.0.1]/hook",
  "http://[64:ff9b::a00:1]/hook", // NAT64 of 10.0.0.1
  "http://[64:ff9b:1::1]/hook", // local-use NAT64
  "http://[2002:a00:1::1]/hook", // 6to4 of 10.0.0.1
  "http://[2001::1]/hook", // Teredo
  "http://[2001:db8::1]/hook", // documentation
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
      "compat.example.test": ["::7f00:1"],
      "empty.example.test": [],
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

  test.each([
    "internal.example.test",
    "mixed.example.test",
    "rebind.example.test",
    "compat.example.test",
    "empty.example.test",
    "nonexistent.invalid",
  ])(
    "refuses a host name that resolves to a non-public address, or not at all, in the same words (%s)",
    async (host) => {
      const error = await rejection(client.webhooks.createEndpoint.mutate({ url: `https://${host}/hook` }));
      expect(error.data?.code).toBe("BAD_REQUEST");
      expect(error.data?.zodError?.issues).toEqual([
        expect.objectContaining({ path: ["url"], message: "must resolve only to public addresses" }),
      ]);
      expect(error.message).toBe("url: must resolve only to public addresses");
      // Never the resolved address: that would map internal names for any user.
      expect(JSON.stringify({ message: error.message, data: error.data })).not.toMatch(
        /10\.1\.2\.3|192\.168|169\.254|7f00|ENOTFOUND/,
      );
      expect(net.resolved).toContain(host);
      expect(net.connected).toEqual([]);
    },
  );

  test("refuses, in the same words, a host whose lookup outlasts WEBHOOK_TIMEOUT_MS", async () => {
    const hanging: Network = { ...net.network, resolve: () => new Promise(() => {}) };
    const slow = await startTestApp({ WORKER: "off", WEBHOOK_TIMEOUT_MS: "200" }, { network: hanging });
    try {
      const owner = slow.client(await slow.token("slow-dns@example.com"));
      const error = await rejection(owner.webhooks.createEndpoint.mutate({ url: "https://slow.example.test/hook" }));
      expect(error.data?.code).toBe("BAD_REQUEST");
      expect(error.message).toBe("url: must resolve only to public addresses");
    } finally {
      await slow.close();
    }
  });

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
      expect(job.error).toBe("url: must resolve only to public addresses");
      expect(net.connected).toEqual([]);
      const attempts = await client.webhooks.attempts.query({ jobId });
      expect(attempts).toHaveLength(1);
      expect(attempts[0]?.error).toBe("url: must resolve only to public addresses");
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

describe("the address policy", () => {
  // Unit checks only: nothing here is connected to.
  const REFUSED = [
    "::7f00:1", // IPv4-compatible (::/96), loopback inside
    "::127.0.0.1",
    "::a00:1",
    "::ffff:10.0.0.1", // mapped: checked as IPv4
    "::ffff:127.0.0.1",
    "64:ff9b::a00:1", // NAT64 of 10.0.0.1
    "64:ff9b::a9fe:a9fe", // NAT64 of 169.254.169.254
    "64:ff9b:1::1", // local-use NAT64
    "2002:0a00:0001::1", // 6to4 of 10.0.0.1
    "2002:7f00:1::1", // 6to4 of 127.0.0.1
    "2001:db8::1", // documentation
    "2001::1", // Teredo
    "fc00::1",
    "fd00:ec2::254",
    "fe80::1",
    "fe80::1%eth0",
    "ff02::1",
    "::",
    "::1",
    "100::1", // discard-only
    "4000::1", // outside 2000::/3
    "0.0.0.0",
    "198.18.0.1", // benchmarking
    "240.0.0.1", // reserved
  ];
  const ALLOWED = [
    "93.184.216.34",
    "8.8.8.8",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808", // NAT64 of 8.8.8.8: the embedded IPv4 is public
    "2002:808:808::1", // 6to4 of 8.8.8.8
    "2606:2800:220:1:248:1893:25c8:1946",
    "2a00:1450:4001:80b::200e",
  ];

  test.each(REFUSED)("refuses %s", (address) => {
    expect(refusedAddress(address, false)).toBeDefined();
  });

  test.each(ALLOWED)("allows %s", (address) => {
    expect(refusedAddress(address, false)).toBeUndefined();
  });

  test("with WEBHOOK_ALLOW_LOOPBACK, loopback in every embedding is allowed, IPv4-compatible never", () => {
    for (const address of ["127.0.0.1", "127.9.9.9", "::1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "2002:7f00:1::1"]) {
      expect(refusedAddress(address, true), address).toBeUndefined();
    }
    for (const address of ["::7f00:1", "::127.0.0.1", "::ffff:10.0.0.1", "fe80::1", "2001:db8::1"]) {
      expect(refusedAddress(address, true), address).toBeDefined();
    }
  });

  test("a literal refusal names its reason; an embedded IPv4 is named as IPv4", () => {
    expect(refusedAddress("64:ff9b::a00:1", false)).toMatch(/10\.0\.0\.1.*private/);
    expect(refusedAddress("2002:a00:1::1", false)).toMatch(/10\.0\.0\.1.*private/);
    expect(refusedAddress("::127.0.0.1", false)).toMatch(/IPv4-compatible/);
    expect(refusedAddress("2001::1", false)).toMatch(/Teredo/);
  });

  test.each(REFUSED.filter((a) => a !== "fe80::1%eth0"))(
    "checkTarget refuses a host name resolving to %s, without naming the address",
    async (address) => {
      const { network } = recordingNetwork({ "host.example.test": ["93.184.216.34", address] });
      const error = await checkTarget("https://host.example.test/hook", {
        allowLoopback: false,
        resolve: network.resolve,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UnsafeTargetError);
      expect((error as Error).message).toBe("must resolve only to public addresses");
    },
  );

  test.each(REFUSED.filter((a) => !a.includes("%")))("checkTarget refuses the literal [%s]", async (address) => {
    const { network, resolved } = recordingNetwork();
    await expect(
      checkTarget(`http://[${address}]/hook`, { allowLoopback: false, resolve: network.resolve }),
    ).rejects.toBeInstanceOf(UnsafeTargetError);
    expect(resolved).toEqual([]);
  });

  test("checkTarget accepts a host name resolving to NAT64 of a public IPv4 and returns that address", async () => {
    const { network } = recordingNetwork({ "nat64.example.test": ["64:ff9b::808:808"] });
    const target = await checkTarget("https://nat64.example.test/hook", {
      allowLoopback: false,
      resolve: network.resolve,
    });
    expect(target).toMatchObject({ address: "64:ff9b::808:808", family: 6 });
  });

  test("a host that does not resolve is an UnresolvedHostError carrying the DNS code, with the public message", async () => {
    const { network } = recordingNetwork();
    const error = await checkTarget("https://nonexistent.invalid/", {
      allowLoopback: false,
      resolve: network.resolve,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnresolvedHostError);
    expect(error).toMatchObject({ code: "ENOTFOUND", message: "must resolve only to public addresses" });
  });
});
