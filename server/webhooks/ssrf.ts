/**
 * Server-side request forgery guard for webhook targets. Only http and https;
 * no credentials in the URL; metadata host names refused; the host is resolved
 * once and every address must be public (not unspecified, private, loopback,
 * link-local, CGNAT, unique-local, multicast, broadcast, reserved or a cloud
 * metadata address, in any spelling: WHATWG URL parsing already turns decimal,
 * octal, hex and shortened IPv4 into dotted quads, and IPv4-mapped IPv6 is
 * unwrapped here). The caller connects to the address checked here, never
 * looking the name up again, so DNS rebinding cannot swap it.
 */
import dns from "node:dns/promises";
import net from "node:net";
import ipaddr from "ipaddr.js";

export type Resolver = (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>;

export const systemResolver: Resolver = async (hostname) => {
  const found = await dns.lookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

export class UnsafeTargetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UnsafeTargetError";
  }
}

const METADATA_HOSTS = new Set([
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "metadata.azure.com",
  "instance-data",
  "instance-data.ec2.internal",
]);

/** Addresses that are public in range terms but serve cloud metadata. */
const METADATA_ADDRESSES = new Set(["169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"]);

/** Why this address may not be connected to, or undefined when it is public. */
export function refusedAddress(address: string, allowLoopback: boolean): string | undefined {
  if (!ipaddr.isValid(address)) return `not an IP address: ${address}`;
  let parsed = ipaddr.parse(address);
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  const normalized = parsed.toString();
  if (METADATA_ADDRESSES.has(normalized)) return `${normalized} is a cloud metadata address`;
  const range = parsed.range();
  if (range === "loopback") return allowLoopback ? undefined : `${normalized} is a loopback address`;
  if (range === "unicast") return undefined;
  return `${normalized} is not a public address (${range})`;
}

export interface CheckedTarget {
  url: URL;
  /** The address to connect to: the one that was checked. */
  address: string;
  family: 4 | 6;
}

/**
 * Parses and checks a webhook URL, resolving its host once. Throws
 * UnsafeTargetError naming the reason; returns the address to connect to.
 */
export async function checkTarget(
  raw: string,
  options: { allowLoopback: boolean; resolve: Resolver },
): Promise<CheckedTarget> {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UnsafeTargetError("url is not a valid URL");
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UnsafeTargetError("url must use http or https");
  if (url.username || url.password) throw new UnsafeTargetError("url must not contain credentials");
  const host = url.hostname
    .replace(/^\[|\]$/g, "")
    .replace(/\.+$/, "")
    .toLowerCase();
  if (!host) throw new UnsafeTargetError("url has no host");
  if (METADATA_HOSTS.has(host)) throw new UnsafeTargetError(`${host} is a cloud metadata host`);
  if (host === "localhost" || host.endsWith(".localhost")) {
    if (!options.allowLoopback) throw new UnsafeTargetError(`${host} is a loopback host`);
  }
  const literal = net.isIP(host);
  const addresses = literal
    ? [{ address: host, family: literal === 6 ? (6 as const) : (4 as const) }]
    : await options.resolve(host);
  if (addresses.length === 0) throw new UnsafeTargetError(`${host} did not resolve`);
  for (const { address } of addresses) {
    const reason = refusedAddress(address, options.allowLoopback);
    if (reason) throw new UnsafeTargetError(`url is refused: ${reason}`);
  }
  const first = addresses[0] as { address: string; family: 4 | 6 };
  return { url, address: first.address, family: first.family };
}
