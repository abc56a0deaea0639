/**
 * Sends one webhook request to an address already checked by ssrf.ts: the
 * socket connects to that address (the host name is used only for the Host
 * header and TLS), redirects are not followed, and the response body is read
 * only up to 1 KB for the attempt log. Every failure (refused, unreachable, TLS,
 * reset, the deadline) rejects with an error naming its cause; none escapes as
 * an unhandled 'error' event.
 */
import type dns from "node:dns";
import http from "node:http";
import https from "node:https";
import type { CheckedTarget } from "./ssrf.js";

export interface WebhookResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  excerpt: string;
}

export interface OutgoingRequest {
  target: CheckedTarget;
  headers: Record<string, string>;
  body: string;
  /**
   * Bounds the whole request, from connecting to the end of the excerpt (the
   * delivery deadline, see deadline.ts); the request fails with its reason.
   */
  signal: AbortSignal;
}

/** The connector: injectable so tests can prove no connection was attempted. */
export type Connector = (request: OutgoingRequest) => Promise<WebhookResponse>;

const EXCERPT_BYTES = 1024;

/**
 * A `lookup` that answers with the checked address, asynchronously. Answering
 * synchronously let a connect that fails at once (ENETUNREACH from an IPv4-only
 * host) destroy the socket before ClientRequest had attached its 'error'
 * listener: an unhandled 'error' event that killed the process.
 */
function pinnedLookup(address: string, family: 4 | 6) {
  return (
    _hostname: string,
    options: dns.LookupOptions,
    callback: (error: NodeJS.ErrnoException | null, address: string | dns.LookupAddress[], family?: number) => void,
  ) => {
    setImmediate(() => {
      if (options.all) callback(null, [{ address, family }]);
      else callback(null, address, family);
    });
  };
}

/** The error's message, with its code (ENETUNREACH, ECONNRESET, ...) when the message does not say it. */
export function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as NodeJS.ErrnoException).code;
  return code && !error.message.includes(code) ? `${error.message} (${code})` : error.message;
}

export const httpConnector: Connector = ({ target, headers, body, signal }) =>
  new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason);
      return;
    }
    const { url, address, family } = target;
    const client = url.protocol === "https:" ? https : http;
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      signal.removeEventListener("abort", onAbort);
      outcome();
    };
    const fail = (error: unknown) =>
      settle(() => {
        request.destroy();
        reject(error);
      });
    const onAbort = () => fail(signal.reason);

    const options: https.RequestOptions & { autoSelectFamily: boolean } = {
      protocol: url.protocol,
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: "POST",
      headers: { ...headers, "content-length": Buffer.byteLength(body).toString() },
      // Pin the connection to the checked address: no second DNS lookup, one
      // address so nothing to race between families, and no pooled socket
      // that an earlier check opened to another address.
      lookup: pinnedLookup(address, family),
      autoSelectFamily: false,
      agent: false,
    };
    let responded = false;
    const request = client.request(options, (response) => {
      responded = true;
      const chunks: Buffer[] = [];
      let size = 0;
      const finish = () =>
        settle(() => {
          response.destroy();
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            excerpt: Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString("utf8"),
          });
        });
      response.on("data", (chunk: Buffer) => {
        if (size < EXCERPT_BYTES) chunks.push(chunk);
        size += chunk.length;
        if (size >= EXCERPT_BYTES) finish(); // enough for the log; do not read a huge body
      });
      response.on("end", finish);
      response.on("error", (error: NodeJS.ErrnoException) =>
        fail(
          error.code === "ECONNRESET"
            ? Object.assign(new Error("the connection was reset while reading the response"), { code: error.code })
            : error,
        ),
      );
      response.on("close", () => {
        if (!response.complete) {
          fail(Object.assign(new Error("the connection closed before the response ended"), { code: "ECONNRESET" }));
        }
      });
    });
    signal.addEventListener("abort", onAbort, { once: true });
    request.on("error", fail);
    // A 101 Switching Protocols answer emits neither 'response' nor 'error'.
    request.on("upgrade", (response, socket) => {
      socket.destroy();
      fail(new Error(`the endpoint answered ${response.statusCode} Switching Protocols, not a response`));
    });
    // Anything else that ends the request without an outcome fails it at once rather than at the deadline.
    request.on("close", () => {
      if (!responded) fail(Object.assign(new Error("the connection closed before a response"), { code: "ECONNRESET" }));
    });
    request.end(body);
  });
