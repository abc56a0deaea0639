/**
 * A real HTTP webhook receiver on loopback: answers each request from a
 * scripted list of responses (status, headers, body, delay) and records what
 * arrived, raw body included, for signature checks.
 */
import http from "node:http";

export interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Holds the response this long (to provoke timeouts). */
  delayMs?: number;
}

export interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface TestReceiver {
  url: (path?: string) => string;
  received: Received[];
  /** Responses for the next requests, in order; after them, 200. */
  script: (...responses: Scripted[]) => void;
  close: () => Promise<void>;
}

export async function startReceiver(): Promise<TestReceiver> {
  const received: Received[] = [];
  let queue: Scripted[] = [];
  const server = http.createServer((req, res) => {
    // A client killed mid-request (fault tests) resets its socket: not an error here.
    req.on("error", () => {});
    res.on("error", () => {});
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      received.push({
        path: req.url ?? "",
        headers: req.headers,
        body: Buffer.concat(chunks).toString("utf8"),
        at: Date.now(),
      });
      const next = queue.shift() ?? { status: 200, body: "ok" };
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(next.status, next.headers ?? {});
        res.end(next.body ?? "");
      };
      if (next.delayMs) setTimeout(send, next.delayMs);
      else send();
    });
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  const port = await new Promise<number>((resolve) =>
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      resolve(typeof address === "object" && address ? address.port : 0);
    }),
  );
  return {
    url: (path = "/hook") => `http://127.0.0.1:${port}${path}`,
    received,
    script: (...responses) => {
      queue = responses;
    },
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
