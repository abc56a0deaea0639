/**
 * Sends one webhook request to an address already checked by ssrf.ts: the
 * socket connects to that address (the host name is used only for the Host
 * header and TLS), redirects are not followed, and the response body is read
 * only up to 1 KB for the attempt log.
 */
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
  timeoutMs: number;
  /** Aborts the request (cancellation, time limit, shutdown). */
  signal?: AbortSignal;
}

/** The connector: injectable so tests can prove no connection was attempted. */
export type Connector = (request: OutgoingRequest) => Promise<WebhookResponse>;

const EXCERPT_BYTES = 1024;

export const httpConnector: Connector = ({ target, headers, body, timeoutMs, signal }) =>
  new Promise((resolve, reject) => {
    const { url, address, family } = target;
    const client = url.protocol === "https:" ? https : http;
    const request = client.request(
      {
        protocol: url.protocol,
        host: url.hostname.replace(/^\[|\]$/g, ""),
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: "POST",
        headers: { ...headers, "content-length": Buffer.byteLength(body).toString() },
        // Pin the connection to the checked address: no second DNS lookup.
        lookup: (_hostname, options, callback) => {
          if ((options as { all?: boolean }).all) callback(null, [{ address, family }] as never, family);
          else callback(null, address, family);
        },
        timeout: timeoutMs,
        ...(signal ? { signal } : {}),
      },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          if (size < EXCERPT_BYTES) chunks.push(chunk);
          size += chunk.length;
          if (size >= EXCERPT_BYTES) response.destroy(); // enough for the log; do not read a huge body
        });
        const finish = () =>
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            excerpt: Buffer.concat(chunks).subarray(0, EXCERPT_BYTES).toString("utf8"),
          });
        response.on("end", finish);
        response.on("close", finish);
        response.on("error", finish);
      },
    );
    request.on("timeout", () => request.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    request.on("error", reject);
    request.end(body);
  });
