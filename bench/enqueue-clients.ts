/**
 * The enqueue benchmark's clients, in their own process (clients of a web app
 * are other machines): N concurrent keep-alive HTTP connections, each posting
 * `jobs.enqueue` in tRPC's wire format (what httpLink sends, through the
 * transformer) and checking that a job id comes back. Plain node:http, not
 * @trpc/client over fetch: the load generator shares these 2 cores with the
 * server and Postgres, and tRPC's client costs about 2 ms of CPU a request
 * against 0.4 here, which measured the client more than the server (see
 * docs/performance.md). Reports jobs/s and its CPU per request to the parent.
 *
 *   fork("bench/enqueue-clients.ts", [serverUrl, token, clients, total])
 */
import http from "node:http";
import { transformer } from "../shared/transformer.js";

const [serverUrl, token, clientsArg, totalArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const total = Number(totalArg);
if (!serverUrl || !token || !(clients > 0) || !(total > 0)) {
  throw new Error("usage: enqueue-clients <serverUrl> <token> <clients> <total>");
}

const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
const url = new URL("/trpc/jobs.enqueue", serverUrl);
const body = JSON.stringify(
  transformer.serialize({ type: "email", payload: { to: "bench@example.com", subject: "Bench", body: "b" } }),
);
const headers = {
  "content-type": "application/json",
  "content-length": Buffer.byteLength(body),
  authorization: `Bearer ${token}`,
};

function enqueue(): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.request(url, { method: "POST", agent, headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        text += chunk;
      });
      response.on("end", () => {
        if (response.statusCode === 200 && text.includes('"jobId"')) resolve();
        else reject(new Error(`jobs.enqueue answered ${response.statusCode}: ${text.slice(0, 300)}`));
      });
    });
    request.on("error", reject);
    request.end(body);
  });
}

let next = 0;
const cpuBefore = process.cpuUsage();
const started = Date.now();
await Promise.all(
  Array.from({ length: clients }, async () => {
    while (next++ < total) await enqueue();
  }),
);
const seconds = (Date.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
process.send?.({ type: "done", rate: total / seconds, cpuMsPerRequest: (cpu.user + cpu.system) / 1000 / total });
process.exit(0);
