/**
 * TRUST_PROXY: which proxies in front of the app may tell it the client's
 * address and scheme (X-Forwarded-For / -Proto). It decides `req.secure`, and
 * so whether the session cookie is `Secure` and HSTS is sent.
 */
import net from "node:net";

/** What Express's "trust proxy" setting takes. */
export type TrustProxy = false | true | number | string[];

const NAMED_RANGES = new Set(["loopback", "linklocal", "uniquelocal"]);

/**
 * A dotted-quad or IPv6 address, bare or with a prefix length. Strict on
 * purpose: ipaddr.js also reads "1" as 0.0.0.1, the very trap a hop count
 * would fall into inside a list.
 */
function isAddressOrCidr(entry: string): boolean {
  const [address = "", prefix, ...rest] = entry.split("/");
  const version = net.isIP(address);
  if (version === 0 || rest.length > 0) return false;
  if (prefix === undefined) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (version === 4 ? 32 : 128);
}

/**
 * Parses the variable: unset or `false` trusts no proxy; an integer n trusts n
 * hops (as a number: Express reads the string "1" as the address 0.0.0.1);
 * `true` trusts every hop; otherwise a comma-separated list of addresses,
 * CIDRs or the names loopback / linklocal / uniquelocal. Returns an error
 * message for anything else.
 */
export function parseTrustProxy(raw: string | undefined): { value: TrustProxy } | { error: string } {
  const text = raw?.trim().toLowerCase() ?? "";
  if (text === "" || text === "false") return { value: false };
  if (text === "true") return { value: true };
  if (/^\d+$/.test(text)) {
    const hops = Number(text);
    return hops === 0 ? { value: false } : { value: hops };
  }
  const entries = text
    .split(",")
    .map((e) => e.trim())
    .filter((e) => e !== "");
  const bad = entries.find((e) => !NAMED_RANGES.has(e) && !isAddressOrCidr(e));
  if (bad !== undefined || entries.length === 0) {
    return {
      error: `must be false, true, a number of hops, or a comma-separated list of addresses, CIDRs, loopback, linklocal or uniquelocal${bad !== undefined ? ` (not ${JSON.stringify(bad)})` : ""}`,
    };
  }
  return { value: entries };
}
