/**
 * The enqueue benchmark's clients, in their own process (clients of a web app
 * are other machines): N concurrent loops of `jobs.enqueue` through the real
 * tRPC client over HTTP. Reports jobs/s to the parent over IPC.
 *
 *   fork("bench/enqueue-clients.ts", [serverUrl, token, clients, total])
 */
import { trpcClient } from "../test/support/app.js";

const [serverUrl, token, clientsArg, totalArg] = process.argv.slice(2);
const clients = Number(clientsArg);
const total = Number(totalArg);
if (!serverUrl || !token || !(clients > 0) || !(total > 0)) {
  throw new Error("usage: enqueue-clients <serverUrl> <token> <clients> <total>");
}

const client = trpcClient(serverUrl, token);
const payload = { to: "bench@example.com", subject: "Bench", body: "b" };
let next = 0;
const started = Date.now();
await Promise.all(
  Array.from({ length: clients }, async () => {
    while (next++ < total) await client.jobs.enqueue.mutate({ type: "email", payload });
  }),
);
process.send?.({ type: "done", rate: total / ((Date.now() - started) / 1000) });
process.exit(0);
