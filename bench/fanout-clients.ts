/**
 * The fan-out benchmark's subscribers, in their own process so the server's
 * memory and CPU are measured alone: opens N `jobs.events` streams over plain
 * HTTP (the wire format httpSubscriptionLink reads), and reports to the parent
 * (IPC) when all are open and, on request, what they received.
 *
 *   fork("bench/fanout-clients.ts", [serverUrl, token, count])
 */
import http from "node:http";

const [serverUrl, token, countArg] = process.argv.slice(2);
const count = Number(countArg);
if (!serverUrl || !token || !(count > 0)) throw new Error("usage: fanout-clients <serverUrl> <token> <count>");

const path = `/trpc/jobs.events?input=${encodeURIComponent(JSON.stringify({ json: {} }))}`;
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const latencies: number[] = [];
let delivered = 0;
let open = 0;
const requests: http.ClientRequest[] = [];

function subscribe(): void {
  const request = http.get(
    new URL(path, serverUrl),
    { agent, headers: { accept: "text/event-stream", authorization: `Bearer ${token}` } },
    (response) => {
      if (response.statusCode !== 200) throw new Error(`subscription refused: ${response.statusCode}`);
      response.setEncoding("utf8");
      let pending = "";
      let counted = false;
      response.on("data", (text: string) => {
        if (!counted) {
          counted = true;
          open += 1;
          if (open === count) process.send?.({ type: "ready" });
        }
        pending += text;
        let end = pending.indexOf("\n\n");
        while (end >= 0) {
          onMessage(pending.slice(0, end));
          pending = pending.slice(end + 2);
          end = pending.indexOf("\n\n");
        }
      });
    },
  );
  request.on("error", (error) => {
    process.stderr.write(`subscriber error: ${error.message}\n`);
  });
  requests.push(request);
}

/**
 * One SSE message: only `data:` lines of job events count (not the connected
 * or ping messages). The event's time is found without parsing the whole
 * message, so that this process, not the server, is never what falls behind.
 */
function onMessage(message: string): void {
  if (!message.includes("data: ") || message.includes("event: ")) return;
  const at = message.indexOf('"at":"');
  if (at < 0) return;
  delivered += 1;
  latencies.push(Date.now() - Date.parse(message.slice(at + 6, message.indexOf('"', at + 6))));
}

process.on("message", (message: { type: string }) => {
  if (message.type === "report") {
    process.send?.({ type: "report", delivered, latencies, rssMb: process.memoryUsage().rss / 2 ** 20 });
  } else if (message.type === "stop") {
    for (const request of requests) request.destroy();
    process.exit(0);
  }
});

// Open in small waves so the server's accept queue is not flooded.
for (let i = 0; i < count; i++) {
  subscribe();
  if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 20));
}
