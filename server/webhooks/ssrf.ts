/**
 * Server-side request forgery guard for webhook targets. Only http and https;
 * no credentials in the URL; metadata host names refused; the host is resolved
 * once and every address must be public (see refusedAddress for the policy,
 * which holds in any spelling: WHATWG URL parsing already turns decimal, octal,
 * hex and shortened IPv4 into dotted quads, and an IPv4 embedded in IPv6 is
 * checked as IPv4 here). The caller connects to the address checked here,
 * never looking the name up again, so DNS rebinding cannot swap it.
 */
import dns from "node:dns/promises";
import net from "node:net";
import ipaddr from "ipaddr.js";
import { untilAborted } from "./deadline.js";

export type Resolver = (hostname: string) => Promise<{ address: string; family: 4 | 6 }[]>;

export const systemResolver: Resolver = async (hostname) => {
  const found = await dns.lookup(hostname, { all: true, verbatim: true });
  return found.map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));
};

/** What a client sees for a host name that does not resolve, or not only to public addresses. */
export const RESOLVE_PUBLIC_ONLY = "must resolve only to public addresses";

/** A target that may not be delivered to; the message is safe to show its owner. */
export class UnsafeTargetError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnsafeTargetError";
  }
}

/**
 * The host name did not resolve (ENOTFOUND, EAI_AGAIN, no addresses). Refused
 * at creation like a private host, with the same message; at delivery a DNS
 * failure can be passing, so the task retries it. `code` names the cause.
 */
export class UnresolvedHostError extends UnsafeTargetError {
  readonly code: string;
  constructor(
    readonly host: string,
    cause: unknown,
  ) {
    super(RESOLVE_PUBLIC_ONLY, { cause });
    this.name = "UnresolvedHostError";
    this.code = String((cause as NodeJS.ErrnoException | undefined)?.code ?? "EAI_FAIL");
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

const cidr = (range: string) => ipaddr.IPv6.parseCIDR(range);
/** Global unicast IPv6: everything else (unique-local, link-local, multicast, ...) is refused. */
const GLOBAL_UNICAST = cidr("2000::/3");
/** IPv6 ranges refused by name, whether or not inside 2000::/3. */
const REFUSED_V6: [ReturnType<typeof cidr>, string][] = [
  [cidr("::/96"), "IPv4-compatible"],
  [cidr("64:ff9b:1::/48"), "local-use NAT64"],
  [cidr("2001::/32"), "Teredo"],
  [cidr("2001:db8::/32"), "documentation"],
];
/** IPv6 ranges that carry an IPv4 address, checked as that IPv4: [range, offset of its 4 bytes]. */
const EMBEDDING_V6: [ReturnType<typeof cidr>, number][] = [
  [cidr("::ffff:0:0/96"), 12], // IPv4-mapped
  [cidr("64:ff9b::/96"), 12], // NAT64 (RFC 6052)
  [cidr("2002::/16"), 2], // 6to4
];

/**
 * Parses an address strictly. IPv6 goes through WHATWG URL first: ipaddr.js
 * 2.5 reads "::127.0.0.1" (IPv4-compatible) as "::ffff:127.0.0.1" (mapped).
 */
function parseAddress(address: string): ipaddr.IPv4 | ipaddr.IPv6 | undefined {
  const version = net.isIP(address);
  if (version === 4) return ipaddr.IPv4.parse(address);
  if (version !== 6 || address.includes("%")) return undefined; // a zone index: link-local, refused
  try {
    return ipaddr.IPv6.parse(new URL(`http://[${address}]/`).hostname.slice(1, -1));
  } catch {
    return undefined;
  }
}

function refusedIPv4(address: ipaddr.IPv4, allowLoopback: boolean): string | undefined {
  const normalized = address.toString();
  if (METADATA_ADDRESSES.has(normalized)) return `${normalized} is a cloud metadata address`;
  const range = address.range();
  if (range === "loopback") return allowLoopback ? undefined : `${normalized} is a loopback address`;
  if (range === "unicast") return undefined;
  return `${normalized} is not a public address (${range})`;
}

/**
 * Why this address may not be connected to, or undefined when it is public.
 * IPv4: ipaddr.js's unicast range only. IPv6: inside 2000::/3 and outside the
 * IPv4-compatible, local NAT64, Teredo and documentation ranges; an IPv4
 * embedded by mapping, NAT64 or 6to4 is checked as that IPv4. Loopback (127/8,
 * ::1, and an embedded 127/8) only with `allowLoopback`.
 */
export function refusedAddress(address: string, allowLoopback: boolean): string | undefined {
  const parsed = parseAddress(address);
  if (!parsed) return `not an IP address: ${address}`;
  if (parsed.kind() === "ipv4") return refusedIPv4(parsed as ipaddr.IPv4, allowLoopback);
  const v6 = parsed as ipaddr.IPv6;
  const normalized = v6.toString();
  for (const [block, offset] of EMBEDDING_V6) {
    if (!v6.match(block)) continue;
    const embedded = new ipaddr.IPv4(v6.toByteArray().slice(offset, offset + 4));
    const reason = refusedIPv4(embedded, allowLoopback);
    return reason && `${normalized} embeds ${embedded.toString()}: ${reason}`;
  }
  if (METADATA_ADDRESSES.has(normalized)) return `${normalized} is a cloud metadata address`;
  const range = v6.range();
  if (range === "loopback") return allowLoopback ? undefined : `${normalized} is a loopback address`;
  const refused = REFUSED_V6.find(([block]) => v6.match(block))?.[1];
  if (range === "unspecified" || (!refused && !v6.match(GLOBAL_UNICAST))) {
    return `${normalized} is not a public address (${range === "unicast" ? "outside 2000::/3" : range})`;
  }
  return refused && `${normalized} is not a public address (${refused})`;
}

export interface CheckedTarget {
  url: URL;
  /** The address to connect to: the one that was checked. */
  address: string;
  family: 4 | 6;
}

/**
 * Parses and checks a webhook URL, resolving its host once. Throws
 * UnsafeTargetError naming the reason; returns the address to connect to. A
 * host name that resolves privately and one that does not resolve get the same
 * message, which never shows a resolved address: otherwise any user could map
 * internal host names to addresses through it. `signal` (the delivery
 * deadline) bounds the lookup; its reason is thrown as is.
 */
export async function checkTarget(
  raw: string,
  options: { allowLoopback: boolean; resolve: Resolver; signal?: AbortSignal },
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
  if (literal) {
    const reason = refusedAddress(host, options.allowLoopback);
    if (reason) throw new UnsafeTargetError(`url is refused: ${reason}`);
    return { url, address: host, family: literal === 6 ? 6 : 4 };
  }
  let addresses: Awaited<ReturnType<Resolver>>;
  try {
    addresses = await untilAborted(options.resolve(host), options.signal);
  } catch (error) {
    if (options.signal?.aborted && error === options.signal.reason) throw error;
    throw new UnresolvedHostError(host, error);
  }
  const first = addresses[0];
  if (!first) throw new UnresolvedHostError(host, Object.assign(new Error("no addresses"), { code: "ENODATA" }));
  if (addresses.some(({ address }) => refusedAddress(address, options.allowLoopback))) {
    throw new UnsafeTargetError(RESOLVE_PUBLIC_ONLY);
  }
  return { url, address: first.address, family: first.family };
}
